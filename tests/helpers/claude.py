"""The Claude CLI stand-in for end-to-end tests, and the claude subgraph's operations."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.curl import curl_graphql
from tests.helpers.processes import ROOT, GatewayProcess

__all__ = [
    "CONFIGS",
    "CREATE",
    "EXECUTE",
    "FAKE_CLAUDE",
    "INPROCESS",
    "INTERRUPT",
    "OUTPUT",
    "SESSION",
    "START",
    "UUID",
    "ClaudeStandIn",
    "assert_no_traceback",
    "create_session",
    "execute",
    "fake_claude",
    "flag",
    "inprocess_env",
    "process_state",
    "start_hanging_command",
]


CONFIGS = ROOT / "tests" / "e2e" / "configs"


INPROCESS = CONFIGS / "inprocess.yaml"


FAKE_CLAUDE = ROOT / "scripts" / "fake-claude"


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


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
