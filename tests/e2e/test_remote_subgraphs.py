"""The one-line switch: claude, git and github as their own servers, the gateway
reaching them by ``routing_url`` (SDL from ``_service { sdl }``, subscriptions over
upstream SSE or WebSocket), answering exactly as the in-process graph does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.claude import (
    CONFIGS,
    EXECUTE,
    INTERRUPT,
    OUTPUT,
    assert_no_traceback,
    create_session,
    fake_claude,
    flag,
    start_hanging_command,
)
from tests.helpers.curl import (
    curl_graphql,
    curl_sse,
    finish,
    sse_events,
    start_curl,
)
from tests.helpers.github import (
    THREE_SUBGRAPHS,
    TOKEN,
    AiohttpServer,
    expected_answer,
    fake_github,
    make_workspace,
)
from tests.helpers.processes import ROOT, StartGateway, free_port

REMOTE = CONFIGS / "remote.yaml"


@dataclass
class SubgraphProcess:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


StartSubgraph = Callable[..., Awaitable[SubgraphProcess]]


async def _wait_healthy(subgraph: SubgraphProcess, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if subgraph.process.returncode is not None:
                raise RuntimeError(
                    f"{subgraph.name} exited with {subgraph.process.returncode}:\n"
                    f"{subgraph.output()}"
                )
            try:
                url = f"http://127.0.0.1:{subgraph.port}/health"
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise RuntimeError(f"{subgraph.name} not healthy:\n{subgraph.output()}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def start_subgraph(tmp_path: Path) -> AsyncIterator[StartSubgraph]:
    """``await start_subgraph("git", env={...}, cwd=...)``: ``python -m
    subgraphs.<name> --port P``, healthy; stopped (SIGTERM, then SIGKILL) after."""
    started: list[SubgraphProcess] = []

    async def start(
        name: str, *, env: Mapping[str, str], cwd: Path = ROOT
    ) -> SubgraphProcess:
        port = free_port()
        log = tmp_path / f"{name}-{port}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"subgraphs.{name}",
                "--port",
                str(port),
                cwd=str(cwd),
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        subgraph = SubgraphProcess(name, process, port, log)
        started.append(subgraph)
        await _wait_healthy(subgraph)
        return subgraph

    try:
        yield start
    finally:
        for subgraph in started:
            if subgraph.process.returncode is None:
                subgraph.process.terminate()
                try:
                    await asyncio.wait_for(subgraph.process.wait(), 10)
                except TimeoutError:
                    subgraph.process.kill()
                    await subgraph.process.wait()


async def read_until_text(
    stdout: asyncio.StreamReader, text: str, timeout: float = 30
) -> list[dict[str, str]]:
    """Read SSE events as they arrive until one carries an output event with
    ``text``; every event read so far."""
    seen: list[dict[str, str]] = []
    while True:
        frame = await asyncio.wait_for(stdout.readuntil(b"\n\n"), timeout)
        events = sse_events(frame.decode())
        seen += events
        for event in events:
            if event.get("event") != "next":
                continue
            output = json.loads(event["data"])["data"]["commandOutput"]
            if output["text"] == text:
                return seen


@dataclass(frozen=True, slots=True)
class RemoteGraph:
    claude: SubgraphProcess
    git: SubgraphProcess
    github: SubgraphProcess

    def env(self) -> dict[str, str]:
        return {
            "E2E_CLAUDE_PORT": str(self.claude.port),
            "E2E_GIT_PORT": str(self.git.port),
            "E2E_GITHUB_PORT": str(self.github.port),
        }

    def assert_no_traceback(self) -> None:
        for subgraph in (self.claude, self.git, self.github):
            assert "Traceback" not in subgraph.output(), subgraph.output()


async def test_remote_subgraphs_answer_the_three_subgraph_query_as_in_process(
    start_gateway: StartGateway,
    start_subgraph: StartSubgraph,
    aiohttp_server: AiohttpServer,
    tmp_path: Path,
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github()
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    graph = RemoteGraph(
        claude=await start_subgraph(
            "claude",
            env={
                "CLAUDE_CLI_PATH": str(claude.cli),
                "CLAUDE_DB_PATH": str(tmp_path / "claude.sqlite3"),
                **claude.standalone_env(tmp_path),
            },
        ),
        git=await start_subgraph("git", env={}, cwd=workspace.root),
        github=await start_subgraph(
            "github",
            env={"GITHUB_API_URL": str(server.make_url("")), "GITHUB_TOKEN": TOKEN},
        ),
    )
    gateway = await start_gateway(REMOTE, env=graph.env())

    session = await create_session(gateway, workspace.repo)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert (answer.status, answer.body) == (
        200,
        expected_answer(session["claudeSessionId"]),
    )
    assert [r.path for r in github.requests] == ["/repos/acme/widgets/pulls"]

    # Commands run in the remote claude server, resuming Claude's UUID there too.
    ours = session["id"]
    for command, result in [
        ("What is 3+3?", "6"),
        (
            "What was the previous calculation?",
            "The previous calculation was 3+3, which equals 6.",
        ),
    ]:
        ran = await curl_graphql(gateway.url, EXECUTE, {"id": ours, "c": command})
        assert ran.body == {
            "data": {"executeCommand": {"status": "SUCCEEDED", "result": result}}
        }
    calls = [argv for argv in claude.invocations() if "--version" not in argv]
    assert [flag(argv, "--resume") for argv in calls] == [
        None,
        session["claudeSessionId"],
    ]
    assert_no_traceback(gateway)
    graph.assert_no_traceback()


@pytest.mark.parametrize("protocol", ["sse", "ws"])
async def test_command_output_streams_from_a_remote_claude(
    start_gateway: StartGateway,
    start_subgraph: StartSubgraph,
    tmp_path: Path,
    protocol: str,
) -> None:
    # The one-line switch of subscription.protocol: the same events, ids and resume
    # whether the claude server streams to the gateway over SSE or WebSocket.
    claude = fake_claude(tmp_path)
    remote_claude = await start_subgraph(
        "claude",
        env={
            "CLAUDE_CLI_PATH": str(claude.cli),
            "CLAUDE_DB_PATH": str(tmp_path / "claude.sqlite3"),
            **claude.standalone_env(tmp_path),
            "FAKE_CLAUDE_DELAY": "0.05",
        },
    )
    git = await start_subgraph("git", env={}, cwd=tmp_path)
    github = await start_subgraph(
        "github", env={"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_TOKEN": TOKEN}
    )
    graph = RemoteGraph(remote_claude, git, github)
    gateway = await start_gateway(
        REMOTE, env={**graph.env(), "E2E_CLAUDE_SUBSCRIPTION_PROTOCOL": protocol}
    )
    session = await create_session(gateway, tmp_path)
    ours = session["id"]
    subscription = OUTPUT

    # Opened before any command: stored events are replayed, live ones follow.
    stream = await start_curl(curl_sse(gateway.url, subscription, {"id": ours}))
    ran = await curl_graphql(gateway.url, EXECUTE, {"id": ours, "c": "What is 6*7?"})
    assert ran.body == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "42"}}
    }
    # A command that never ends: its first words reach the client while it runs.
    await start_hanging_command(gateway, claude, ours)
    assert stream.stdout is not None
    seen = await read_until_text(stream.stdout, "Thinking very hard...")
    running = await curl_graphql(
        gateway.url,
        "query($id: ID!) { session(id: $id) { status runningCommand { prompt } } }",
        {"id": ours},
    )
    assert running.data == {
        "session": {"status": "RUNNING", "runningCommand": {"prompt": "Please hang"}}
    }
    stopped = await curl_graphql(gateway.url, INTERRUPT, {"id": ours})
    assert stopped.data["interruptCommand"]["status"] == "INTERRUPTED"
    closed = await curl_graphql(
        gateway.url,
        "mutation($id: ID!) { closeSession(id: $id) { status } }",
        {"id": ours},
    )
    assert closed.body == {"data": {"closeSession": {"status": "CLOSED"}}}
    events = seen + sse_events(await finish(stream))

    assert events[-1] == {"event": "complete", "data": ""}
    nexts = events[:-1]
    assert {event["event"] for event in nexts} == {"next"}
    payloads = [json.loads(event["data"])["data"]["commandOutput"] for event in nexts]
    assert [p["seq"] for p in payloads] == list(range(1, len(payloads) + 1))
    assert [(p["kind"], p["text"]) for p in payloads if p["kind"] != "SYSTEM"] == [
        ("COMMAND_STARTED", "What is 6*7?"),
        ("TEXT", "42"),
        ("RESULT", "42"),
        ("COMMAND_FINISHED", "SUCCEEDED"),
        ("COMMAND_STARTED", "Please hang"),
        ("TEXT", "Thinking very hard..."),
        ("RESULT", None),  # the CLI ends its turn on the interrupt request
        ("ERROR", payloads[-3]["text"]),
        ("COMMAND_FINISHED", "INTERRUPTED"),
        ("SESSION_CLOSED", None),
    ]
    # Every event carries an id: a client that reconnects with Last-Event-ID gets
    # only what came after it.
    assert all(event.get("id") for event in nexts), nexts
    resume_from = nexts[2]["id"]
    again = await start_curl(
        curl_sse(
            gateway.url,
            subscription,
            {"id": ours},
            headers={"Last-Event-ID": resume_from},
        )
    )
    replayed = sse_events(await finish(again))
    assert replayed[-1] == {"event": "complete", "data": ""}
    assert [
        json.loads(event["data"])["data"]["commandOutput"] for event in replayed[:-1]
    ] == payloads[3:]
    assert_no_traceback(gateway)
    graph.assert_no_traceback()
