"""Roots, the CLI's environment, the state directory's lock, no orphaned CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.environment import cli_environment
from subgraphs.claude.errors import (
    BadWorkingDirectoryError,
    ForbiddenPathError,
    StateLockedError,
)
from subgraphs.claude.paths import resolve_roots, working_directory
from subgraphs.claude.processes import process_start_time, reap_process_group
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.statelock import StateLock
from tests.subgraphs.claude.conftest import pid_exists

ROOT = Path(__file__).resolve().parents[3]


# -- roots ---------------------------------------------------------------------


def test_a_directory_inside_a_root_is_accepted_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    roots = resolve_roots([tmp_path / "a"])
    assert working_directory(str(tmp_path / "a" / "b" / ".."), roots) == str(
        (tmp_path / "a").resolve()
    )


@pytest.mark.parametrize("outside", ["/", "/etc", "/proc", "~", "/root"])
def test_directories_outside_the_roots_are_forbidden(
    tmp_path: Path, outside: str
) -> None:
    with pytest.raises(ForbiddenPathError) as caught:
        working_directory(outside, resolve_roots([tmp_path]))
    assert caught.value.extensions == {"code": "FORBIDDEN_PATH"}
    # The message names what the client sent, never the roots.
    assert str(tmp_path) not in caught.value.message


def test_a_symlink_out_of_the_roots_is_forbidden(tmp_path: Path) -> None:
    inside = tmp_path / "root"
    inside.mkdir()
    (inside / "escape").symlink_to("/etc")
    with pytest.raises(ForbiddenPathError):
        working_directory(str(inside / "escape"), resolve_roots([inside]))


def test_a_sibling_with_the_roots_name_as_prefix_is_forbidden(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root-other").mkdir()
    with pytest.raises(ForbiddenPathError):
        working_directory(
            str(tmp_path / "root-other"), resolve_roots([tmp_path / "root"])
        )


def test_a_missing_directory_inside_the_roots_is_bad_working_directory(
    tmp_path: Path,
) -> None:
    with pytest.raises(BadWorkingDirectoryError):
        working_directory(str(tmp_path / "missing"), resolve_roots([tmp_path]))
    with pytest.raises(BadWorkingDirectoryError):
        working_directory("x" * 5000, resolve_roots([Path.cwd()]))


def test_roots_default_to_the_current_directory_and_come_from_options_or_env(
    tmp_path: Path,
) -> None:
    assert ClaudeConfig.from_options({}, {}).roots == (Path(os.getcwd()).resolve(),)
    from_env = ClaudeConfig.from_options({}, {"CLAUDE_ROOTS": str(tmp_path)})
    assert from_env.roots == (tmp_path.resolve(),)
    options = ClaudeConfig.from_options({"roots": [str(tmp_path)]}, {})
    assert options.roots == (tmp_path.resolve(),)
    with pytest.raises(ValueError, match="roots must be a list"):
        ClaudeConfig.from_options({"roots": str(tmp_path)}, {})


async def test_create_session_outside_the_roots_is_forbidden_before_anything_runs(
    service: ClaudeService,
) -> None:
    with pytest.raises(ForbiddenPathError):
        await service.create_session("/etc")
    assert await service.sessions() == []


# -- the CLI's environment -----------------------------------------------------


def test_the_cli_gets_what_it_needs_and_never_the_gateways_secrets() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-ant",
        "CLAUDE_CONFIG_DIR": "/home/me/.claude",
        "HTTPS_PROXY": "http://proxy:3128",
        "GITHUB_TOKEN": "ghp_secret",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "DATABASE_URL": "postgres://",
        "MY_TOOL_HOME": "/opt/tool",
    }
    env = cli_environment(environ, allow=["MY_TOOL_HOME"], values={"EXTRA": "1"})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-ant",
        "CLAUDE_CONFIG_DIR": "/home/me/.claude",
        "HTTPS_PROXY": "http://proxy:3128",
        "MY_TOOL_HOME": "/opt/tool",
        "EXTRA": "1",
    }


def test_env_option_is_a_list_of_names_or_a_mapping_of_values() -> None:
    names = ClaudeConfig.from_options({"env": ["A", "B"]}, {})
    assert (names.env_allow, dict(names.env)) == (("A", "B"), {})
    values = ClaudeConfig.from_options({"env": {"A": 1}}, {})
    assert (values.env_allow, dict(values.env)) == ((), {"A": "1"})
    from_env = ClaudeConfig.from_options({}, {"CLAUDE_ENV_ALLOW": "A, B"})
    assert from_env.env_allow == ("A", "B")
    with pytest.raises(ValueError, match="env must be"):
        ClaudeConfig.from_options({"env": "A"}, {})


async def test_the_spawned_cli_sees_only_its_minimal_environment(
    config: ClaudeConfig, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real path: SDK -> launcher -> a CLI that records its env."""
    record = tmp_path / "env.txt"
    cli = tmp_path / "claude-env"
    cli.write_text(
        f'#!/bin/sh\nenv -0 > {record}\nexec {ROOT / "scripts" / "fake-claude"} "$@"\n'
    )
    cli.chmod(0o755)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("SOME_PASSWORD", "hunter2")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    import dataclasses

    from subgraphs.claude.runner import CliProcess, OutputItem, RunRequest

    async def emit(item: OutputItem) -> None:
        del item

    process = CliProcess(
        dataclasses.replace(config, cli_path=str(cli)),
        RunRequest("What is 1+1?", str(workdir), str(uuid.uuid4()), False),
    )
    outcome = await process.run(emit)
    assert outcome.result == "2"
    env = dict(
        item.split("=", 1) for item in record.read_text().split("\0") if "=" in item
    )
    assert "GITHUB_TOKEN" not in env and "SOME_PASSWORD" not in env
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert env["PATH"] == os.environ["PATH"]
    assert env["CLAUDE_CODE_ENTRYPOINT"] == "sdk-py"
    assert "GATEWAY_CLAUDE_LAUNCH" not in env


# -- one owner of a state directory -------------------------------------------


def test_a_second_lock_on_the_state_directory_names_the_holder(tmp_path: Path) -> None:
    first = StateLock(tmp_path / "claude.sqlite3.lock")
    first.acquire()
    try:
        with pytest.raises(StateLockedError) as caught:
            StateLock(tmp_path / "claude.sqlite3.lock").acquire()
        assert str(tmp_path) in caught.value.message
        assert f"pid {os.getpid()}" in caught.value.message
    finally:
        first.release()
    second = StateLock(tmp_path / "claude.sqlite3.lock")
    second.acquire()
    second.release()


async def test_a_second_service_on_one_database_refuses_to_start(
    config: ClaudeConfig,
) -> None:
    async with ClaudeService(config).lifespan():
        with pytest.raises(StateLockedError):
            await ClaudeService(config).start()
    # Released at stop: it starts again.
    async with ClaudeService(config).lifespan() as again:
        assert await again.sessions() == []


def test_another_process_holding_the_lock_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "claude.sqlite3.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                sys.path.insert(0, {str(ROOT)!r})
                from pathlib import Path
                from subgraphs.claude.statelock import StateLock
                StateLock(Path({str(lock)!r})).acquire()
                print("locked", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(StateLockedError, match=f"pid {holder.pid}"):
            StateLock(lock).acquire()
    finally:
        holder.kill()
        holder.wait()
    StateLock(lock).acquire()  # the OS released it with the holder


# -- no orphaned CLI -----------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_the_cli_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    """A parent runs the launcher (as the SDK does), is SIGKILLed: the CLI, in
    its own process group, dies too."""
    pid_file = tmp_path / "cli.pid"
    cli = tmp_path / "sleepy"
    cli.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    cli.chmod(0o755)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import json, os, subprocess, time
                spec = {{"cli": {str(cli)!r}, "env": {{"PATH": os.environ["PATH"]}},
                         "parent": os.getpid()}}
                subprocess.Popen(
                    [{str(ROOT / "subgraphs" / "claude" / "launcher.py")!r}],
                    env={{**os.environ, "GATEWAY_CLAUDE_LAUNCH": json.dumps(spec)}},
                )
                time.sleep(60)
                """
            ),
        ]
    )
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        cli_pid = int(pid_file.read_text())
        assert os.getpgid(cli_pid) == cli_pid  # its own process group
        assert pid_exists(cli_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    for _ in range(200):
        if not _alive(cli_pid):
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert not _alive(cli_pid)


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_reaping_kills_the_recorded_group_and_spares_a_reused_pid() -> None:
    group = subprocess.Popen(
        ["sh", "-c", "sleep 60 & exec sleep 60"], start_new_session=True
    )
    try:
        comm = Path(f"/proc/{group.pid}/comm")
        while comm.read_text().strip() != "sleep":  # forked, then exec'd
            time.sleep(0.01)
        start = process_start_time(group.pid)
        assert start is not None
        # Another start time: that pid now belongs to someone else; left alone.
        assert reap_process_group(group.pid, start + 10**9) == []
        assert group.poll() is None
        killed = reap_process_group(group.pid, start)
        assert group.pid in killed and len(killed) == 2
        assert group.wait() == -signal.SIGKILL
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
async def test_start_up_reaps_a_cli_left_by_a_previous_run_then_marks_it_interrupted(
    config: ClaudeConfig, workdir: Path
) -> None:
    left = await asyncio.create_subprocess_exec("sleep", "60", start_new_session=True)
    try:
        async with ClaudeService(config).lifespan() as first:
            session = await first.create_session(str(workdir))
            command = await first.store.create_command(session.id, "left running")
            await first.store.set_command_process(
                command.id, left.pid, process_start_time(left.pid)
            )
        # As if that process had died without stopping its CLI: start again.
        async with ClaudeService(config).lifespan() as second:
            assert await left.wait() == -signal.SIGKILL
            record = await second.command(command.id)
            assert record is not None and record.status == "INTERRUPTED"
            assert await second.store.integrity_check() == "ok"
    finally:
        if left.returncode is None:
            left.kill()
            await left.wait()


async def test_the_launcher_runs_with_the_gateways_own_interpreter(
    config: ClaudeConfig, workdir: Path
) -> None:
    async with ClaudeService(config).lifespan() as service:
        script = config.db_path.parent / "claude-launcher"
        text = script.read_text()
        assert text.startswith("#!/bin/sh\nexec ")
        assert sys.executable in text and "launcher.py" in text
        assert script.stat().st_mode & 0o777 == 0o700
        session = await service.create_session(str(workdir))
        done = await service.execute_command(session.id, "What is 5+5?")
        assert done.result == "10"
