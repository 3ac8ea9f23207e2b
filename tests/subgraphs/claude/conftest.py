"""Fixtures for the claude subgraph: the real SDK path against scripts/fake-claude."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import ExecutionResult, execute, parse, subscribe

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.claude import create_subgraph
from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.service import ClaudeService

FAKE_CLAUDE = Path(__file__).resolve().parents[3] / "scripts" / "fake-claude"


def pid_exists(pid: int) -> bool:
    """True while ``pid`` exists, zombies included (they answer signal 0 too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(autouse=True)
def fake_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's own state (``CLAUDE_CONFIG_DIR``: its transcripts)."""
    state = tmp_path / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(state))
    monkeypatch.delenv("FAKE_CLAUDE_DELAY", raising=False)
    monkeypatch.delenv("FAKE_CLAUDE_NOT_LOGGED_IN", raising=False)
    return state


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "README.md").write_text("hello\n")
    (directory / "main.py").write_text("print('hi')\n")
    return directory


@pytest.fixture
def config(tmp_path: Path) -> ClaudeConfig:
    return ClaudeConfig(
        db_path=tmp_path / "state" / "claude.sqlite3",
        roots=(tmp_path.resolve(),),
        cli_path=str(FAKE_CLAUDE),
        kill_grace=2.0,
        env_allow=("FAKE_CLAUDE_DELAY", "FAKE_CLAUDE_NOT_LOGGED_IN"),
    )


@pytest.fixture
async def service(config: ClaudeConfig) -> AsyncIterator[ClaudeService]:
    async with ClaudeService(config).lifespan() as running:
        yield running


class Client:
    """Runs operations on a LocalSubgraph the way the in-process transport does."""

    def __init__(self, local: LocalSubgraph) -> None:
        self.local = local

    def context(self) -> Any:
        assert self.local.context is not None
        return self.local.context(RequestContext())

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> ExecutionResult:
        result = execute(
            self.local.schema,
            parse(query),
            variable_values=variables,
            context_value=self.context(),
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return result

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        result = await self.execute(query, variables)
        assert result.errors is None, result.errors
        return result.data

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> Any:
        return await subscribe(
            self.local.schema,
            parse(query),
            variable_values=variables,
            context_value=self.context(),
        )


CREATE = """
mutation ($dir: String!) {
  createSession(input: {workingDirectory: $dir}) { id claudeSessionId status }
}
"""
EXECUTE = """
mutation ($id: ID!, $cmd: String!) {
  executeCommand(sessionId: $id, command: $cmd) {
    id status result error errorCode costUsd durationMs startedAt finishedAt
  }
}
"""


async def create(client: Client, workdir: Path) -> dict[str, Any]:
    data = await client.data(CREATE, {"dir": str(workdir)})
    return data["createSession"]


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalSubgraph]:
    subgraph = create_subgraph(
        {
            "db_path": str(tmp_path / "state" / "claude.sqlite3"),
            "cli_path": str(FAKE_CLAUDE),
            "kill_grace": 2,
            "roots": [str(tmp_path)],
            "env": ["FAKE_CLAUDE_DELAY", "FAKE_CLAUDE_NOT_LOGGED_IN"],
        },
        environ={},
    )
    assert subgraph.lifespan is not None
    async with subgraph.lifespan():
        yield subgraph


@pytest.fixture
def client(local: LocalSubgraph) -> Client:
    return Client(local)
