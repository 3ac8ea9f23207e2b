"""The claude subgraph served on its own (``python -m subgraphs.claude``): GraphQL
over HTTP at /graphql and subscriptions over SSE at /graphql/stream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.http.subgraph_app import create_subgraph_app
from subgraphs.claude import create_subgraph
from tests.subgraphs.claude.conftest import FAKE_CLAUDE

ROOT = Path(__file__).resolve().parents[3]


async def post(client: TestClient, query: str, variables: dict[str, Any]) -> Any:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}
    )
    assert response.status == 200
    body = await response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_http_and_sse_serve_the_seed_scenario(
    aiohttp_client: Any, tmp_path: Path, workdir: Path
) -> None:
    # Not the ``local`` fixture: the server enters the subgraph's lifespan itself
    # (and a state directory has one owner at a time).
    local = create_subgraph(
        {
            "db_path": str(tmp_path / "state" / "claude.sqlite3"),
            "cli_path": str(FAKE_CLAUDE),
            "roots": [str(tmp_path)],
        },
        environ={},
    )
    client = await aiohttp_client(create_subgraph_app(local, heartbeat_interval=5))
    data = await post(
        client,
        "mutation ($d: String!) { createSession(input: {workingDirectory: $d}) { id } }",
        {"d": str(workdir)},
    )
    session_id = data["createSession"]["id"]
    data = await post(
        client,
        "mutation ($id: ID!) { executeCommand(sessionId: $id, command: "
        '"What is 3+3?") { result } }',
        {"id": session_id},
    )
    assert data["executeCommand"]["result"] == "6"
    await post(
        client,
        "mutation ($id: ID!) { closeSession(id: $id) { status } }",
        {"id": session_id},
    )

    response = await client.post(
        "/graphql/stream",
        json={
            "query": "subscription ($id: ID!) { commandOutput(sessionId: $id) "
            "{ seq kind text } }",
            "variables": {"id": session_id},
        },
        headers={"Accept": "text/event-stream"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    text = await response.text()  # the stream ends after SESSION_CLOSED
    events = [
        json.loads(line[len("data: ") :])["data"]["commandOutput"]
        for line in text.splitlines()
        if line.startswith("data: {")
    ]
    assert [e["kind"] for e in events] == [
        "COMMAND_STARTED",
        "SYSTEM",
        "TEXT",
        "RESULT",
        "COMMAND_FINISHED",
        "SESSION_CLOSED",
    ]
    assert events[2]["text"] == "6"
    assert "event: complete" in text


def test_the_module_runs_as_a_server_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "subgraphs.claude", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--port" in completed.stdout
