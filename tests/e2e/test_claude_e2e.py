"""The claude subgraph through a real ``gateway serve`` process, driven with curl.

The Claude CLI is ``scripts/fake-claude`` behind a wrapper that records every
command line it is started with, so the tests see exactly what the CLI was told
(``--session-id`` / ``--resume``), and the real claude-agent-sdk path runs against it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from tests.helpers.claude import (
    CREATE,
    EXECUTE,
    INPROCESS,
    INTERRUPT,
    OUTPUT,
    SESSION,
    assert_no_traceback,
    create_session,
    execute,
    fake_claude,
    flag,
    inprocess_env,
    process_state,
    start_hanging_command,
)
from tests.helpers.curl import (
    curl_graphql,
    curl_sse,
    finish,
    sse_events,
    start_curl,
)
from tests.helpers.processes import StartGateway

# -- the fake CLI, observable -------------------------------------------------------


# -- curl ---------------------------------------------------------------------------


# -- helpers over the claude schema -------------------------------------------------


# -- the seed's scenario ------------------------------------------------------------


async def test_seed_scenario_resumes_claudes_uuid_and_never_our_id(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    session = await create_session(gateway, work)
    ours, uuid = session["id"], session["claudeSessionId"]

    # Opened before the commands: stored events are replayed, then live ones
    # follow, so it shows both commands whenever it attaches.
    output = await start_curl(curl_sse(gateway.url, OUTPUT, {"id": ours}))

    assert await execute(gateway, ours, "What is 3+3?") == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "6"}}
    }
    assert await execute(gateway, ours, "What was the previous calculation?") == {
        "data": {
            "executeCommand": {
                "status": "SUCCEEDED",
                "result": "The previous calculation was 3+3, which equals 6.",
            }
        }
    }
    history = await curl_graphql(gateway.url, SESSION, {"id": ours})
    assert history.body == {
        "data": {
            "session": {
                "id": ours,
                "claudeSessionId": uuid,
                "status": "IDLE",
                "commands": [
                    {"prompt": "What is 3+3?", "status": "SUCCEEDED", "result": "6"},
                    {
                        "prompt": "What was the previous calculation?",
                        "status": "SUCCEEDED",
                        "result": "The previous calculation was 3+3, which equals 6.",
                    },
                ],
            }
        }
    }

    # What the CLI was told: our UUID first as --session-id, then --resume with
    # the same UUID; our own id never reached it.
    calls = [argv for argv in claude.invocations() if "--version" not in argv]
    assert len(calls) == 2, calls
    assert flag(calls[0], "--session-id") == uuid
    assert flag(calls[0], "--resume") is None
    assert flag(calls[1], "--resume") == uuid
    assert flag(calls[1], "--session-id") is None
    assert not any(ours in token for argv in calls for token in argv)
    assert claude.conversations() == {
        uuid: [
            {"prompt": "What is 3+3?", "answer": "6"},
            {
                "prompt": "What was the previous calculation?",
                "answer": "The previous calculation was 3+3, which equals 6.",
            },
        ]
    }

    # Closing the session ends its stream; the stream showed both commands.
    closed = await curl_graphql(
        gateway.url,
        "mutation($id: ID!) { closeSession(id: $id) { status } }",
        {"id": ours},
    )
    assert closed.body == {"data": {"closeSession": {"status": "CLOSED"}}}
    events = sse_events(await finish(output))
    assert events[-1] == {"event": "complete", "data": ""}
    payloads = [json.loads(e["data"])["data"]["commandOutput"] for e in events[:-1]]
    assert [p["seq"] for p in payloads] == list(range(1, len(payloads) + 1))
    assert [(p["kind"], p["text"]) for p in payloads if p["kind"] != "SYSTEM"] == [
        ("COMMAND_STARTED", "What is 3+3?"),
        ("TEXT", "6"),
        ("RESULT", "6"),
        ("COMMAND_FINISHED", "SUCCEEDED"),
        ("COMMAND_STARTED", "What was the previous calculation?"),
        ("TEXT", "The previous calculation was 3+3, which equals 6."),
        ("RESULT", "The previous calculation was 3+3, which equals 6."),
        ("COMMAND_FINISHED", "SUCCEEDED"),
        ("SESSION_CLOSED", None),
    ]
    assert_no_traceback(gateway)


# -- activeSessions, however it is called -------------------------------------------


async def test_active_sessions_answers_however_it_is_called(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    first = await create_session(gateway, tmp_path)
    closed = await create_session(gateway, tmp_path)
    third = await create_session(gateway, tmp_path)
    answer = await curl_graphql(
        gateway.url,
        "mutation($id: ID!) { closeSession(id: $id) { id status } }",
        {"id": closed["id"]},
    )
    assert answer.body == {
        "data": {"closeSession": {"id": closed["id"], "status": "CLOSED"}}
    }
    active = [{"id": first["id"]}, {"id": third["id"]}]
    every = [
        {"id": first["id"], "status": "IDLE"},
        {"id": closed["id"], "status": "CLOSED"},
        {"id": third["id"], "status": "IDLE"},
    ]

    cases: list[tuple[str, dict[str, Any]]] = [
        ("{ activeSessions { id } }", {"activeSessions": active}),
        ("{ mine: activeSessions { id } }", {"mine": active}),
        (
            "query Q { ...Active } fragment Active on Query { activeSessions { id } }",
            {"activeSessions": active},
        ),
        ("{ ... on Query { activeSessions { id } } }", {"activeSessions": active}),
        (
            "query($id: ID!) { session(id: $id) { id } activeSessions { id }"
            " sessions { id status } }",
            {
                "session": {"id": first["id"]},
                "activeSessions": active,
                "sessions": every,
            },
        ),
        (
            "{ a: activeSessions { id } b: activeSessions { id status } }",
            {
                "a": active,
                "b": [{**s, "status": "IDLE"} for s in active],
            },
        ),
        (
            "{ activeSessions { id } activeSessions { id } }",
            {"activeSessions": active},
        ),
    ]
    for query, expected in cases:
        variables = {"id": first["id"]} if "$id" in query else None
        for method in ("POST", "GET"):
            answer = await curl_graphql(gateway.url, query, variables, method=method)
            assert (answer.status, answer.body) == (200, {"data": expected}), (
                method,
                query,
            )
    assert_no_traceback(gateway)


# -- restarts -----------------------------------------------------------------------


async def test_a_restart_keeps_sessions_and_resumes_the_same_claude_uuid(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)  # default db under XDG_STATE_HOME
    first = await start_gateway(INPROCESS, env=env)
    session = await create_session(first, tmp_path)
    ours, uuid = session["id"], session["claudeSessionId"]
    assert await execute(first, ours, "What is 3+3?") == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "6"}}
    }
    assert await first.stop() == 0, first.output()
    assert (tmp_path / "state" / "gateway" / "claude.sqlite3").is_file()

    second = await start_gateway(INPROCESS, env=env)
    before = await curl_graphql(second.url, SESSION, {"id": ours})
    assert before.body == {
        "data": {
            "session": {
                "id": ours,
                "claudeSessionId": uuid,
                "status": "IDLE",
                "commands": [
                    {"prompt": "What is 3+3?", "status": "SUCCEEDED", "result": "6"}
                ],
            }
        }
    }
    assert await execute(second, ours, "What was the previous calculation?") == {
        "data": {
            "executeCommand": {
                "status": "SUCCEEDED",
                "result": "The previous calculation was 3+3, which equals 6.",
            }
        }
    }
    calls = [argv for argv in claude.invocations() if "--version" not in argv]
    assert [flag(argv, "--resume") for argv in calls] == [None, uuid]
    assert list(claude.conversations()) == [uuid]
    assert_no_traceback(first)
    assert_no_traceback(second)


# -- concurrency --------------------------------------------------------------------


async def test_ten_concurrent_sessions_keep_their_outputs_apart(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude, git_root=tmp_path, extra={"FAKE_CLAUDE_DELAY": "0.05"}
        ),
    )
    sessions = await asyncio.gather(
        *(create_session(gateway, tmp_path) for _ in range(10))
    )
    ids = [s["id"] for s in sessions]
    assert len(set(ids)) == 10
    assert len({s["claudeSessionId"] for s in sessions}) == 10

    firsts = await asyncio.gather(
        *(execute(gateway, sid, f"What is {n}+{100 * n}?") for n, sid in enumerate(ids))
    )
    assert firsts == [
        {"data": {"executeCommand": {"status": "SUCCEEDED", "result": str(101 * n)}}}
        for n in range(10)
    ]
    seconds = await asyncio.gather(
        *(execute(gateway, sid, "What was the previous calculation?") for sid in ids)
    )
    assert seconds == [
        {
            "data": {
                "executeCommand": {
                    "status": "SUCCEEDED",
                    "result": f"The previous calculation was {n}+{100 * n}, "
                    f"which equals {101 * n}.",
                }
            }
        }
        for n in range(10)
    ]
    for n, session in enumerate(sessions):
        history = await curl_graphql(
            gateway.url,
            "query($id: ID!) { session(id: $id) { claudeSessionId"
            " commands { prompt result } } }",
            {"id": session["id"]},
        )
        assert history.data == {
            "session": {
                "claudeSessionId": session["claudeSessionId"],
                "commands": [
                    {"prompt": f"What is {n}+{100 * n}?", "result": str(101 * n)},
                    {
                        "prompt": "What was the previous calculation?",
                        "result": f"The previous calculation was {n}+{100 * n}, "
                        f"which equals {101 * n}.",
                    },
                ],
            }
        }
    conversations = claude.conversations()
    assert {s["claudeSessionId"] for s in sessions} == set(conversations)
    for n, session in enumerate(sessions):
        prompts = [t["prompt"] for t in conversations[session["claudeSessionId"]]]
        assert prompts == [
            f"What is {n}+{100 * n}?",
            "What was the previous calculation?",
        ]
    assert_no_traceback(gateway)


# -- bad input ----------------------------------------------------------------------


async def test_bad_input_is_a_coded_error_never_a_traceback(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    answer = await curl_graphql(
        gateway.url, EXECUTE, {"id": "no-such-session", "c": "What is 3+3?"}
    )
    assert answer.status == 200
    assert answer.content_type.startswith("application/json")
    assert answer.body["data"] is None
    [error] = answer.body["errors"]
    assert error["path"] == ["executeCommand"]
    assert error["extensions"]["code"] == "SESSION_NOT_FOUND"
    assert "no-such-session" in error["message"]
    assert "Traceback" not in json.dumps(answer.body)
    assert "stacktrace" not in json.dumps(answer.body)

    missing = tmp_path / "does-not-exist"
    answer = await curl_graphql(gateway.url, CREATE, {"dir": str(missing)})
    assert answer.status == 200
    assert answer.body["data"] is None
    [error] = answer.body["errors"]
    assert error["path"] == ["createSession"]
    assert error["extensions"]["code"] == "BAD_WORKING_DIRECTORY"
    assert str(missing) in error["message"]
    assert claude.invocations() == []
    assert_no_traceback(gateway)


async def test_a_second_command_while_one_runs_is_session_busy(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude, git_root=tmp_path, extra={"FAKE_CLAUDE_DELAY": "0.5"}
        ),
    )
    session = await create_session(gateway, tmp_path)
    ours = session["id"]
    payload = json.dumps(
        {"query": EXECUTE, "variables": {"id": ours, "c": "What is 2+2?"}}
    )
    running = await start_curl(
        ["-s", gateway.url, "-H", "Content-Type: application/json", "-d", payload]
    )
    try:
        status_query = "query($id: ID!) { session(id: $id) { status } }"
        while True:  # readiness: the first command is running
            answer = await curl_graphql(gateway.url, status_query, {"id": ours})
            if answer.data["session"]["status"] == "RUNNING":
                break
            assert answer.data["session"]["status"] == "IDLE", answer.body
            assert running.returncode is None, "the first command ended too early"
            await asyncio.sleep(0.05)  # pacing only; the loop waits on state
        busy = await execute(gateway, ours, "What is 5+5?")
    finally:
        first = json.loads(await finish(running))
    assert busy["data"] is None
    [error] = busy["errors"]
    assert error["path"] == ["executeCommand"]
    assert error["extensions"]["code"] == "SESSION_BUSY"
    assert first == {"data": {"executeCommand": {"status": "SUCCEEDED", "result": "4"}}}
    history = await curl_graphql(gateway.url, SESSION, {"id": ours})
    assert history.data["session"]["commands"] == [
        {"prompt": "What is 2+2?", "status": "SUCCEEDED", "result": "4"}
    ]
    assert len([a for a in claude.invocations() if "--version" not in a]) == 1
    assert_no_traceback(gateway)


# -- CLI processes: stopped and reaped ----------------------------------------------


async def test_interrupt_and_shutdown_leave_no_cli_process_behind(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    gateway = await start_gateway(INPROCESS, env=env)
    first = await create_session(gateway, tmp_path)
    pid = await start_hanging_command(gateway, claude, first["id"])
    stopped = await curl_graphql(gateway.url, INTERRUPT, {"id": first["id"]})
    assert stopped.body == {
        "data": {
            "interruptCommand": {
                "prompt": "Please hang",
                "status": "INTERRUPTED",
                "errorCode": "COMMAND_INTERRUPTED",
            }
        }
    }
    assert process_state(pid) is None  # exited and reaped: no zombie

    # A clean shutdown stops a running CLI too (no orphan), and says so after restart.
    second = await create_session(gateway, tmp_path)
    pid = await start_hanging_command(gateway, claude, second["id"])
    assert await gateway.stop() == 0, gateway.output()
    assert process_state(pid) is None
    assert_no_traceback(gateway)

    restarted = await start_gateway(INPROCESS, env=env)
    history = await curl_graphql(restarted.url, SESSION, {"id": second["id"]})
    assert history.data["session"]["commands"] == [
        {"prompt": "Please hang", "status": "INTERRUPTED", "result": None}
    ]
    assert history.data["session"]["status"] == "IDLE"
    # The session takes commands again, resuming the same conversation.
    assert await execute(restarted, second["id"], "What is 1+2?") == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "3"}}
    }
    assert_no_traceback(restarted)


async def test_a_command_running_when_the_gateway_is_killed_is_marked_interrupted(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    pid = await start_hanging_command(gateway, claude, session["id"])
    try:
        await gateway.stop(signal.SIGKILL)
    finally:
        # The killed gateway could not stop its CLI: this test started it, so ends it.
        if process_state(pid) is not None:
            os.kill(pid, signal.SIGKILL)
    restarted = await start_gateway(INPROCESS, env=env)
    history = await curl_graphql(
        restarted.url,
        "query($id: ID!) { session(id: $id) { status"
        " commands { prompt status errorCode } } }",
        {"id": session["id"]},
    )
    assert history.data == {
        "session": {
            "status": "IDLE",
            "commands": [
                {
                    "prompt": "Please hang",
                    "status": "INTERRUPTED",
                    "errorCode": "COMMAND_INTERRUPTED",
                }
            ],
        }
    }
    # Its output says so too, and can be replayed from the database.
    closed = await curl_graphql(
        restarted.url,
        "mutation($id: ID!) { closeSession(id: $id) { status } }",
        {"id": session["id"]},
    )
    assert closed.body == {"data": {"closeSession": {"status": "CLOSED"}}}
    replay = await start_curl(
        curl_sse(
            restarted.url,
            "subscription($id: ID!) { commandOutput(sessionId: $id) { kind text } }",
            {"id": session["id"]},
        )
    )
    events = sse_events(await finish(replay))
    assert events[-1] == {"event": "complete", "data": ""}
    kinds = [
        json.loads(event["data"])["data"]["commandOutput"]["kind"]
        for event in events[:-1]
    ]
    assert kinds[0] == "COMMAND_STARTED"
    assert kinds[-3:] == ["ERROR", "COMMAND_FINISHED", "SESSION_CLOSED"]
    finished = json.loads(events[-3]["data"])["data"]["commandOutput"]
    assert finished == {"kind": "COMMAND_FINISHED", "text": "INTERRUPTED"}
    assert_no_traceback(restarted)
