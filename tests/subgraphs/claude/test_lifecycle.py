"""Restart and shutdown: nothing is lost, nothing is left running."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from subgraphs.claude import create_subgraph
from subgraphs.claude.config import ClaudeConfig, default_db_path
from subgraphs.claude.errors import ClaudeError
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.store import SessionStore
from tests.subgraphs.claude.conftest import pid_exists


async def test_a_command_running_at_shutdown_is_stopped_and_recorded(
    config: ClaudeConfig, workdir: Path
) -> None:
    service = ClaudeService(config)
    async with service.lifespan():
        session = await service.create_session(str(workdir))
        command = await service.start_command(session.id, "hang")
        stream = service.output(session.id)
        async for event in stream:
            if event.kind == "TEXT":
                break
        process = service._running[session.id].process
        assert process is not None and process.pid is not None
        pid = process.pid
        reader = asyncio.ensure_future(stream.__anext__())
    assert not pid_exists(pid)
    # Live readers are ended with an error, not left waiting.
    with pytest.raises(ClaudeError, match="shutting down"):
        await reader

    async with ClaudeService(config).lifespan() as restarted:
        stored = await restarted.command(command.id)
        assert stored is not None
        assert (stored.status, stored.error_code) == (
            "INTERRUPTED",
            "COMMAND_INTERRUPTED",
        )
        reopened = await restarted.session(session.id)
        assert reopened is not None and reopened.status == "IDLE"


async def test_a_command_left_running_by_a_dead_process_becomes_interrupted(
    config: ClaudeConfig,
) -> None:
    # A process that died without shutting down left a RUNNING command behind.
    store = await SessionStore.open(config.db_path)
    session = await store.create_session(
        working_directory="/tmp", model=None, claude_session_id="u-1"
    )
    command = await store.create_command(session.id, "long task")
    await store.update_session(session.id, status="RUNNING")
    await store.close()

    async with ClaudeService(config).lifespan() as service:
        stored = await service.command(command.id)
        assert stored is not None and stored.status == "INTERRUPTED"
        assert stored.error == "the gateway stopped while this command was running"
        active = await service.active_sessions()
        assert [(s.id, s.status) for s in active] == [(session.id, "IDLE")]
        replay = []
        async for event in service.output(session.id):
            replay.append((event.seq, event.kind, event.text))
            if event.kind == "COMMAND_FINISHED":
                break
        assert replay == [
            (1, "ERROR", "the gateway stopped while this command was running"),
            (2, "COMMAND_FINISHED", "INTERRUPTED"),
        ]


async def test_sessions_resume_after_a_restart(
    config: ClaudeConfig, workdir: Path
) -> None:
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        first = await service.execute_command(session.id, "What is 3+3?")
        assert first.result == "6"
    async with ClaudeService(config).lifespan() as service:
        again = await service.execute_command(
            session.id, "What was the previous calculation?"
        )
        assert again.result is not None and "3+3" in again.result
        commands = await service.commands(session.id)
        assert [c.status for c in commands] == ["SUCCEEDED", "SUCCEEDED"]
        assert await service.last_seq(session.id) == 10


def test_options_win_over_the_environment(tmp_path: Path) -> None:
    environ = {
        "CLAUDE_CLI_PATH": "/env/claude",
        "CLAUDE_DANGEROUS_MODE": "true",
        "CLAUDE_COMMAND_TIMEOUT": "30",
        "CLAUDE_DB_PATH": str(tmp_path / "env.sqlite3"),
    }
    from_env = ClaudeConfig.from_options({}, environ)
    assert from_env.cli_path == "/env/claude"
    assert from_env.dangerous_mode is True
    assert from_env.command_timeout == 30
    assert from_env.db_path == tmp_path / "env.sqlite3"
    from_options = ClaudeConfig.from_options(
        {"cli_path": "/opt/claude", "dangerous_mode": False, "command_timeout": 5},
        environ,
    )
    assert from_options.cli_path == "/opt/claude"
    assert from_options.dangerous_mode is False
    assert from_options.command_timeout == 5


def test_default_db_path_follows_xdg_state_home(tmp_path: Path) -> None:
    assert default_db_path({"XDG_STATE_HOME": str(tmp_path)}) == (
        tmp_path / "gateway" / "claude.sqlite3"
    )
    assert default_db_path({"GATEWAY_STATE_DIR": str(tmp_path)}) == (
        tmp_path / "claude.sqlite3"
    )
    assert default_db_path({}) == (
        Path.home() / ".local" / "state" / "gateway" / "claude.sqlite3"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dangerous_mode": "maybe"}, "dangerous_mode must be true or false"),
        ({"command_timeout": "soon"}, "command_timeout must be a number"),
        ({"colour": "blue"}, "unknown option"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_subgraph(options, environ={})


async def test_the_cli_gets_our_uuid_first_then_resume_never_our_id(
    config: ClaudeConfig, workdir: Path, tmp_path: Path
) -> None:
    argv_log = tmp_path / "argv.log"
    recorder = tmp_path / "recording-claude"
    recorder.write_text(
        f'#!/bin/sh\necho "$@" >> "{argv_log}"\nexec "{config.cli_path}" "$@"\n'
    )
    recorder.chmod(0o755)
    config = dataclasses.replace(config, cli_path=str(recorder))
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        await service.execute_command(session.id, "What is 3+3?")
        await service.execute_command(session.id, "What was the previous calculation?")
    first, second = argv_log.read_text().splitlines()
    uuid = session.claude_session_id
    assert f"--session-id={uuid}" in first.split() and "--resume" not in first
    assert f"--resume={uuid}" in second.split() and "--session-id" not in second
    assert session.id not in first + second


def test_a_relative_cli_path_is_taken_from_the_gateways_start_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = ClaudeConfig.from_options({}, {"CLAUDE_CLI_PATH": "bin/claude"})
    assert relative.cli_path == str(tmp_path / "bin" / "claude")
    bare = ClaudeConfig.from_options({}, {"CLAUDE_CLI_PATH": "claude"})
    assert bare.cli_path == "claude"
