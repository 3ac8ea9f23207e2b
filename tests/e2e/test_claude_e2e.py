"""The claude subgraph through a real ``gateway serve`` process, driven with curl.

The Claude CLI is ``scripts/fake-claude`` behind a wrapper that records every
command line it is started with, so the tests see exactly what the CLI was told
(``--session-id`` / ``--resume``), and the real claude-agent-sdk path runs against it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

__all__ = [
    "CONFIGS",
    "EXECUTE",
    "INPROCESS",
    "INTERRUPT",
    "OUTPUT",
    "ClaudeStandIn",
    "CurlResult",
    "assert_no_traceback",
    "create_session",
    "curl_graphql",
    "curl_sse",
    "execute",
    "fake_claude",
    "finish",
    "flag",
    "inprocess_env",
    "sse_events",
    "start_curl",
    "start_hanging_command",
]

CONFIGS = Path(__file__).resolve().parent / "configs"
INPROCESS = CONFIGS / "inprocess.yaml"
FAKE_CLAUDE = ROOT / "scripts" / "fake-claude"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CURL_ENV = {"PATH": "/usr/bin:/bin:/usr/local/bin"}


# -- the fake CLI, observable -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaudeStandIn:
    """``scripts/fake-claude`` behind a wrapper that logs its pid and argv, one
    tab-separated line per start (``exec`` keeps the pid: it is the CLI's own),
    and the environment it was given (``env_log``, the last start's). Its
    ``CLAUDE_CONFIG_DIR`` (transcripts under ``projects/``) is ``state_dir``."""

    cli: Path
    argv_log: Path
    state_dir: Path
    env_log: Path

    def environment(self) -> dict[str, str]:
        """The environment the CLI was last started with."""
        pairs = self.env_log.read_bytes().split(b"\0")
        return dict(p.decode().partition("=")[::2] for p in pairs if b"=" in p)

    def standalone_env(self, root: Path) -> dict[str, str]:
        """Environment for ``python -m subgraphs.claude`` with this CLI's state,
        working directories under ``root``."""
        return {
            "CLAUDE_CONFIG_DIR": str(self.state_dir),
            "CLAUDE_ROOTS": str(root),
            "CLAUDE_ENV_ALLOW": "FAKE_CLAUDE_DELAY,FAKE_CLAUDE_NOT_LOGGED_IN",
        }

    def _lines(self) -> list[list[str]]:
        if not self.argv_log.exists():
            return []
        return [
            line.split("\t")[:-1]
            for line in self.argv_log.read_text().splitlines()
            if line
        ]

    def invocations(self) -> list[list[str]]:
        """Every command line the CLI was started with, in order."""
        return [fields[1:] for fields in self._lines()]

    def pids(self) -> list[int]:
        """The process id of every CLI started, in order."""
        return [int(fields[0]) for fields in self._lines()]

    def transcripts(self) -> dict[str, list[dict[str, Any]]]:
        """The CLI's transcripts (``projects/<dir>/<uuid>.jsonl``) by UUID."""
        return {
            path.stem: [json.loads(line) for line in path.read_text().splitlines()]
            for path in sorted(self.state_dir.glob("projects/*/*.jsonl"))
        }

    def conversations(self) -> dict[str, list[dict[str, Any]]]:
        """The fake CLI's memory: ``{prompt, answer}`` turns by session UUID."""
        conversations: dict[str, list[dict[str, Any]]] = {}
        for session, entries in self.transcripts().items():
            turns: list[dict[str, Any]] = []
            for entry in entries:
                content = entry["message"]["content"]
                if entry["type"] == "user" and isinstance(content, str):
                    turns.append({"prompt": content, "answer": None})
                elif entry["type"] == "assistant" and turns:
                    texts = [b["text"] for b in content if b.get("type") == "text"]
                    if texts:
                        turns[-1]["answer"] = texts[-1]
            conversations[session] = turns
        return conversations


def flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in ``argv``."""
    for index, token in enumerate(argv):
        if token == name and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith(name + "="):
            return token.partition("=")[2]
    return None


def fake_claude(tmp_path: Path) -> ClaudeStandIn:
    folder = tmp_path / "fake-claude"
    state = folder / "state"
    state.mkdir(parents=True)
    log = folder / "argv.log"
    env_log = folder / "env.log"
    cli = folder / "claude"
    cli.write_text(
        "#!/bin/sh\n"
        '{ printf \'%s\\t\' "$$"; for arg in "$@"; do printf \'%s\\t\' "$arg"; done;'
        " printf '\\n'; }"
        f" >> {shlex.quote(str(log))}\n"
        f"env -0 > {shlex.quote(str(env_log))}\n"
        f'exec {shlex.quote(str(FAKE_CLAUDE))} "$@"\n'
    )
    cli.chmod(0o755)
    return ClaudeStandIn(cli, log, state, env_log)


def inprocess_env(
    claude: ClaudeStandIn,
    *,
    git_root: Path,
    github_url: str = "http://127.0.0.1:9",
    github_token: str = "e2e-token",
    db_path: Path | None = None,
    extra: Mapping[str, str] | None = None,
    claude_root: Path | None = None,
) -> dict[str, str]:
    """Environment for ``configs/inprocess.yaml``. Without ``db_path`` the claude
    database goes to its default place under ``$XDG_STATE_HOME``."""
    return {
        "E2E_CLAUDE_CLI": str(claude.cli),
        "E2E_CLAUDE_DB": str(db_path) if db_path is not None else "",
        "E2E_GIT_ROOT": str(git_root),
        "E2E_GITHUB_API_URL": github_url,
        "E2E_GITHUB_TOKEN": github_token,
        "E2E_CLAUDE_ROOT": str(claude_root or git_root),
        "CLAUDE_CONFIG_DIR": str(claude.state_dir),
        "FAKE_CLAUDE_DELAY": "0",
        "CLAUDE_DB_PATH": "",
        "GATEWAY_STATE_DIR": "",
        **(extra or {}),
    }


# -- curl ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurlResult:
    status: int
    content_type: str
    body: Any

    @property
    def data(self) -> Any:
        assert isinstance(self.body, dict), self.body
        return self.body.get("data")


async def _curl(*argv: str, stdin: bytes | None, timeout: float) -> str:
    process = await asyncio.create_subprocess_exec(
        "curl",
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=CURL_ENV,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def curl_graphql(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    method: str = "POST",
    timeout: float = 30,
) -> CurlResult:
    """One GraphQL-over-HTTP request with curl; the body parsed as JSON."""
    marker = "\n--curl-write-out--\n"
    write_out = ["-w", marker + "%{http_code} %{content_type}"]
    if method == "GET":
        params = ["--data-urlencode", f"query={query}"]
        if variables is not None:
            params += ["--data-urlencode", f"variables={json.dumps(variables)}"]
        out = await _curl(
            "-s", "-G", url, *params, *write_out, stdin=None, timeout=timeout
        )
    else:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        out = await _curl(
            "-s",
            url,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            *write_out,
            stdin=json.dumps(payload).encode(),
            timeout=timeout,
        )
    body, _, trailer = out.rpartition(marker)
    status, _, content_type = trailer.partition(" ")
    return CurlResult(int(status), content_type, json.loads(body))


def curl_sse(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """curl arguments for a subscription over SSE (POST, ``curl -N``)."""
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    argv = [
        "-s",
        "-N",
        url,
        "-H",
        "Accept: text/event-stream",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(payload),
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    return argv


async def start_curl(argv: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "curl",
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=CURL_ENV,
    )


async def finish(process: asyncio.subprocess.Process, timeout: float = 30) -> str:
    """The whole output of a background curl; killed if it outlives ``timeout``."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    return out.decode()


def sse_events(text: str) -> list[dict[str, str]]:
    """An event stream split into events (``event``, ``id``, ``data``); comments
    (heartbeats) are left out. See https://html.spec.whatwg.org/multipage/
    server-sent-events.html#event-stream-interpretation
    """
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[name] = current[name] + "\n" + value if name in current else value
    if current:
        events.append(current)
    return events


# -- helpers over the claude schema -------------------------------------------------

CREATE = """mutation($dir: String!) {
  createSession(input: {workingDirectory: $dir}) { id claudeSessionId status }
}"""
EXECUTE = """mutation($id: ID!, $c: String!) {
  executeCommand(sessionId: $id, command: $c) { status result }
}"""
SESSION = """query($id: ID!) {
  session(id: $id) { id claudeSessionId status commands { prompt status result } }
}"""
OUTPUT = """subscription($id: ID!) {
  commandOutput(sessionId: $id) { seq kind text }
}"""


async def create_session(gateway: GatewayProcess, directory: Path) -> dict[str, str]:
    answer = await curl_graphql(gateway.url, CREATE, {"dir": str(directory)})
    assert answer.status == 200 and "errors" not in answer.body, answer.body
    session: dict[str, str] = answer.data["createSession"]
    assert UUID.match(session["claudeSessionId"]), session
    assert session["id"] != session["claudeSessionId"]
    assert session["status"] == "IDLE"
    return session


async def execute(gateway: GatewayProcess, session_id: str, command: str) -> Any:
    answer = await curl_graphql(gateway.url, EXECUTE, {"id": session_id, "c": command})
    assert answer.status == 200, answer
    return answer.body


def assert_no_traceback(gateway: GatewayProcess) -> None:
    assert "Traceback" not in gateway.output(), gateway.output()


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

START = """mutation($id: ID!, $c: String!) {
  startCommand(sessionId: $id, command: $c) { prompt status }
}"""
INTERRUPT = """mutation($id: ID!) {
  interruptCommand(sessionId: $id) { prompt status errorCode }
}"""


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` in /proc (``Z``: a zombie), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


async def start_hanging_command(
    gateway: GatewayProcess, claude: ClaudeStandIn, session_id: str
) -> int:
    """Start a command that never ends; the pid of its CLI once it has started."""
    known = len(claude.pids())
    started = await curl_graphql(
        gateway.url, START, {"id": session_id, "c": "Please hang"}
    )
    assert started.body == {
        "data": {"startCommand": {"prompt": "Please hang", "status": "RUNNING"}}
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:  # readiness: the CLI has been spawned
        pids = claude.pids()
        if len(pids) > known:
            break
        assert loop.time() < deadline, "the CLI was never started"
        await asyncio.sleep(0.05)
    pid = pids[-1]
    assert process_state(pid) not in (None, "Z")
    return pid


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
