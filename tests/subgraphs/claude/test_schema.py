"""The claude subgraph through GraphQL (graphql-core execute/subscribe on the
LocalSubgraph), with the real SDK and scripts/fake-claude behind it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from graphql import build_ast_schema, parse

from gateway.local import LocalSubgraph
from gateway.transports.base import SubgraphRequest
from gateway.transports.inprocess import InProcessTransport
from tests.subgraphs.claude.conftest import (
    CREATE,
    EXECUTE,
    Client,
    create,
    pid_exists,
)

START = """
mutation ($id: ID!, $cmd: String!) {
  startCommand(sessionId: $id, command: $cmd) { id status }
}
"""
OUTPUT = """
subscription ($id: ID!, $after: Int) {
  commandOutput(sessionId: $id, afterSeq: $after) {
    sessionId commandId seq kind text data at
  }
}
"""


async def collect(stream: Any, until: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Events from ``stream`` up to and including the first of kind ``until``."""
    events: list[dict[str, Any]] = []
    async for result in stream:
        assert result.errors is None, result.errors
        events.append(result.data["commandOutput"])
        if events[-1]["kind"] == until or len(events) >= limit:
            break
    return events


async def test_seed_scenario_answers_then_resumes_the_same_claude_session(
    client: Client, workdir: Path
) -> None:
    session = await create(client, workdir)
    assert session["status"] == "IDLE"

    first = await client.data(EXECUTE, {"id": session["id"], "cmd": "What is 3+3?"})
    assert first["executeCommand"]["status"] == "SUCCEEDED"
    assert first["executeCommand"]["result"] == "6"
    assert first["executeCommand"]["costUsd"] > 0

    second = await client.data(
        EXECUTE, {"id": session["id"], "cmd": "What was the previous calculation?"}
    )
    assert "3+3" in second["executeCommand"]["result"]

    data = await client.data(
        """query ($id: ID!) { session(id: $id) {
             claudeSessionId status lastSeq commands { prompt status result } } }""",
        {"id": session["id"]},
    )
    assert data["session"]["claudeSessionId"] == session["claudeSessionId"]
    assert data["session"]["status"] == "IDLE"
    assert [c["prompt"] for c in data["session"]["commands"]] == [
        "What is 3+3?",
        "What was the previous calculation?",
    ]

    # The subscription replays both commands' output, numbered without gaps.
    stream = await client.subscribe(OUTPUT, {"id": session["id"]})
    events = await collect(stream, "never", limit=data["session"]["lastSeq"])
    await stream.aclose()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    inits = [e for e in events if e["kind"] == "SYSTEM" and e["text"] == "init"]
    assert [e["data"]["session_id"] for e in inits] == [session["claudeSessionId"]] * 2
    results = [e["text"] for e in events if e["kind"] == "RESULT"]
    assert results[0] == "6" and "3+3" in results[1]
    assert [e["text"] for e in events if e["kind"] == "COMMAND_FINISHED"] == [
        "SUCCEEDED",
        "SUCCEEDED",
    ]


async def test_active_sessions_works_through_the_gateway_transport(
    local: LocalSubgraph, client: Client, workdir: Path
) -> None:
    open_one = await create(client, workdir)
    closed = await create(client, workdir)
    await client.data(
        "mutation ($id: ID!) { closeSession(id: $id) { status } }", {"id": closed["id"]}
    )
    transport = InProcessTransport("claude", local)
    body = await transport.fetch(
        SubgraphRequest(query="{ activeSessions { id status } sessions { id } }")
    )
    assert "errors" not in body, body
    assert body["data"] == {
        "activeSessions": [{"id": open_one["id"], "status": "IDLE"}],
        "sessions": [{"id": open_one["id"]}, {"id": closed["id"]}],
    }


async def test_service_sdl_is_the_local_sdl_with_session_as_an_entity(
    local: LocalSubgraph, client: Client, workdir: Path
) -> None:
    data = await client.data("{ _service { sdl } }")
    assert data["_service"]["sdl"] == local.sdl
    assert 'type Session @key(fields: "id")' in local.sdl
    assert "federation/v2.3" in local.sdl
    # The SDL is a valid schema once the federation definitions exist.
    definitions = """
      directive @link(url: String!, import: [String]) repeatable on SCHEMA
      directive @key(fields: String!, resolvable: Boolean = true)
        repeatable on OBJECT | INTERFACE
    """
    build_ast_schema(parse(definitions + local.sdl))

    session = await create(client, workdir)
    data = await client.data(
        """query ($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on Session { id workingDirectory claudeSessionId } } }""",
        {
            "reps": [
                {"__typename": "Session", "id": session["id"]},
                {"__typename": "Session", "id": "missing"},
            ]
        },
    )
    assert data["_entities"] == [
        {
            "id": session["id"],
            "workingDirectory": str(workdir),
            "claudeSessionId": session["claudeSessionId"],
        },
        None,
    ]


async def test_errors_carry_their_codes(client: Client, workdir: Path) -> None:
    result = await client.execute(CREATE, {"dir": str(workdir / "nope")})
    assert result.errors and result.errors[0].extensions == {
        "code": "BAD_WORKING_DIRECTORY"
    }
    result = await client.execute(EXECUTE, {"id": "nope", "cmd": "hi"})
    assert result.errors and result.errors[0].extensions == {
        "code": "SESSION_NOT_FOUND"
    }
    session = await create(client, workdir)
    result = await client.execute(EXECUTE, {"id": session["id"], "cmd": "  "})
    assert result.errors and result.errors[0].extensions == {"code": "BAD_USER_INPUT"}
    result = await client.execute(EXECUTE, {"id": session["id"], "cmd": "please crash"})
    assert result.errors and result.errors[0].extensions == {"code": "CLI_CRASHED"}
    data = await client.data(
        "query ($id: ID!) { session(id: $id) { status commands { status errorCode } } }",
        {"id": session["id"]},
    )
    assert data["session"] == {
        "status": "FAILED",
        "commands": [{"status": "FAILED", "errorCode": "CLI_CRASHED"}],
    }
    stream = await client.subscribe(OUTPUT, {"id": "nope"})
    assert stream.errors and stream.errors[0].extensions == {
        "code": "SESSION_NOT_FOUND"
    }


async def test_second_command_while_one_runs_is_busy_and_interrupt_stops_it(
    local: LocalSubgraph, client: Client, workdir: Path
) -> None:
    session = await create(client, workdir)
    stream = await client.subscribe(OUTPUT, {"id": session["id"]})
    started = await client.data(START, {"id": session["id"], "cmd": "hang"})
    assert started["startCommand"]["status"] == "RUNNING"
    await collect(stream, "TEXT")  # the CLI is up and hanging

    busy = await client.execute(EXECUTE, {"id": session["id"], "cmd": "What is 1+1?"})
    assert busy.errors and busy.errors[0].extensions == {"code": "SESSION_BUSY"}

    service = client.context()["service"]
    pid = service._running[session["id"]].process.pid
    assert pid is not None and pid_exists(pid)
    data = await client.data(
        "mutation ($id: ID!) { interruptCommand(sessionId: $id) { status errorCode } }",
        {"id": session["id"]},
    )
    assert data["interruptCommand"] == {
        "status": "INTERRUPTED",
        "errorCode": "COMMAND_INTERRUPTED",
    }
    assert not pid_exists(pid)
    tail = await collect(stream, "COMMAND_FINISHED")
    await stream.aclose()
    # The interrupt request ends the CLI's turn: its RESULT, then our end.
    assert [e["kind"] for e in tail] == ["RESULT", "ERROR", "COMMAND_FINISHED"]
    assert tail[-1]["text"] == "INTERRUPTED"

    # The session takes commands again, resuming the same conversation.
    after = await client.data(EXECUTE, {"id": session["id"], "cmd": "What is 2+5?"})
    assert after["executeCommand"]["result"] == "7"


async def test_live_output_streams_as_it_arrives_and_ends_when_closed(
    client: Client, workdir: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_DELAY", "0.05")
    session = await create(client, workdir)
    stream = await client.subscribe(OUTPUT, {"id": session["id"]})
    await client.data(START, {"id": session["id"], "cmd": "What is 4*5?"})
    events = await collect(stream, "COMMAND_FINISHED")
    assert [e["kind"] for e in events] == [
        "COMMAND_STARTED",
        "SYSTEM",
        "TEXT",
        "RESULT",
        "COMMAND_FINISHED",
    ]
    assert events[2]["text"] == "20"
    await client.data(
        "mutation ($id: ID!) { closeSession(id: $id) { status } }",
        {"id": session["id"]},
    )
    rest = [r.data["commandOutput"] async for r in stream]
    assert [e["kind"] for e in rest] == ["SESSION_CLOSED"]
    closed = await client.execute(EXECUTE, {"id": session["id"], "cmd": "hi"})
    assert closed.errors and closed.errors[0].extensions == {"code": "SESSION_CLOSED"}


async def test_after_seq_resumes_without_gap_or_duplicate(
    client: Client, workdir: Path
) -> None:
    session = await create(client, workdir)
    await client.data(EXECUTE, {"id": session["id"], "cmd": "What is 1+2?"})
    stream = await client.subscribe(OUTPUT, {"id": session["id"], "after": 3})
    # Replay (seq 4 and 5: RESULT, COMMAND_FINISHED), then the live output of a
    # command started meanwhile.
    first = await stream.__anext__()
    assert first.data["commandOutput"]["seq"] == 4
    await client.data(START, {"id": session["id"], "cmd": "What is 2+2?"})
    events = [first.data["commandOutput"], *await collect(stream, "COMMAND_FINISHED")]
    events += await collect(stream, "COMMAND_FINISHED")
    await stream.aclose()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(4, 4 + len(seqs)))
    assert events[-2]["text"] == "4"


async def test_a_slow_subscriber_catches_up_from_sqlite(
    tmp_path: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.claude")
    from subgraphs.claude import create_subgraph
    from tests.subgraphs.claude.conftest import FAKE_CLAUDE

    local = create_subgraph(
        {
            "db_path": str(tmp_path / "slow.sqlite3"),
            "cli_path": str(FAKE_CLAUDE),
            "subscriber_queue_size": 2,
            "roots": [str(tmp_path)],
        },
        environ={},
    )
    assert local.lifespan is not None
    async with local.lifespan():
        client = Client(local)
        session = await create(client, workdir)
        stream = await client.subscribe(OUTPUT, {"id": session["id"]})
        service = client.context()["service"]
        # The subscriber is registered once the generator starts; read nothing
        # while two commands produce ten events into a buffer of two.
        reader = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        for n in (1, 2):
            await client.data(
                EXECUTE, {"id": session["id"], "cmd": f"What is {n}+{n}?"}
            )
        events = [(await reader).data["commandOutput"]]
        events += await collect(
            stream, "never", limit=await service.last_seq(session["id"]) - 1
        )
        await stream.aclose()
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["text"] for e in events if e["kind"] == "RESULT"] == ["2", "4"]
        assert "fell behind" in caplog.text  # the catch-up path was taken


async def test_ten_concurrent_sessions_keep_their_outputs_apart(
    client: Client, workdir: Path
) -> None:
    sessions = [await create(client, workdir) for _ in range(10)]
    results = await asyncio.gather(
        *(
            client.data(EXECUTE, {"id": s["id"], "cmd": f"What is {n}+100?"})
            for n, s in enumerate(sessions)
        )
    )
    assert [r["executeCommand"]["result"] for r in results] == [
        str(n + 100) for n in range(10)
    ]
    for n, session in enumerate(sessions):
        stream = await client.subscribe(OUTPUT, {"id": session["id"]})
        events = await collect(stream, "COMMAND_FINISHED")
        await stream.aclose()
        assert {e["sessionId"] for e in events} == {session["id"]}
        assert [e["text"] for e in events if e["kind"] == "TEXT"] == [str(n + 100)]
        init = next(e for e in events if e["kind"] == "SYSTEM")
        assert init["data"]["session_id"] == session["claudeSessionId"]


def test_schema_graphql_file_matches_the_served_sdl() -> None:
    """Remote setups compose from subgraphs/claude/schema.graphql: it must not drift."""
    from subgraphs.claude import SDL

    path = (
        Path(__file__).resolve().parents[3] / "subgraphs" / "claude" / "schema.graphql"
    )
    lines = path.read_text().splitlines(keepends=True)
    body = "".join(line for line in lines if not line.startswith("#"))
    assert body == SDL


async def test_session_options_are_validated_and_shown_through_graphql(
    client: Any, workdir: Path
) -> None:
    create = """mutation($input: CreateSessionInput!) {
      createSession(input: $input) {
        permissionMode allowedTools disallowedTools systemPrompt systemPromptMode
        maxTurns maxBudgetUsd model origin forkedFrom pendingPermissions { id }
        usage { inputTokens outputTokens costUsd numTurns }
      }
    }"""
    data = await client.data(
        create,
        {
            "input": {
                "workingDirectory": str(workdir),
                "permissionMode": "plan",
                "allowedTools": ["Read"],
                "disallowedTools": ["Bash(rm:*)"],
                "systemPrompt": "Be brief.",
                "systemPromptMode": "REPLACE",
                "maxTurns": 3,
                "maxBudgetUsd": 1.5,
                "model": "haiku",
            }
        },
    )
    assert data["createSession"] == {
        "permissionMode": "plan",
        "allowedTools": ["Read"],
        "disallowedTools": ["Bash(rm:*)"],
        "systemPrompt": "Be brief.",
        "systemPromptMode": "REPLACE",
        "maxTurns": 3,
        "maxBudgetUsd": 1.5,
        "model": "haiku",
        "origin": "CREATED",
        "forkedFrom": None,
        "pendingPermissions": [],
        "usage": {"inputTokens": 0, "outputTokens": 0, "costUsd": 0.0, "numTurns": 0},
    }
    for bad, code in [
        ({"permissionMode": "bypassPermissions"}, "FORBIDDEN"),
        ({"maxTurns": 0}, "BAD_USER_INPUT"),
        ({"maxBudgetUsd": -1.0}, "BAD_USER_INPUT"),
        ({"allowedTools": ["not a rule!"]}, "BAD_USER_INPUT"),
        ({"workingDirectory": "/etc"}, "FORBIDDEN_PATH"),
    ]:
        result = await client.execute(
            create, {"input": {"workingDirectory": str(workdir), **bad}}
        )
        assert result.errors is not None, bad
        assert [e.extensions["code"] for e in result.errors] == [code], bad
    for query, variables, code in [
        (
            'mutation { answerPermission(requestId: "nope", allow: true) { id } }',
            None,
            "PERMISSION_REQUEST_NOT_FOUND",
        ),
        ('{ pendingPermissions(sessionId: "nope") { id } }', None, "SESSION_NOT_FOUND"),
        ('mutation { importSession(uuid: "x") { id } }', None, "BAD_USER_INPUT"),
        ('mutation { forkSession(id: "nope") { id } }', None, "SESSION_NOT_FOUND"),
        (
            '{ claudeCodeSessions(workingDirectory: "/") { sessionId } }',
            None,
            "FORBIDDEN_PATH",
        ),
    ]:
        result = await client.execute(query, variables)
        assert result.errors is not None, query
        assert [e.extensions["code"] for e in result.errors] == [code], query
