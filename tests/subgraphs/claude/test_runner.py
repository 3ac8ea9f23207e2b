"""CliProcess through the real claude-agent-sdk subprocess path, against fake-claude."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.errors import (
    BadWorkingDirectoryError,
    CliCrashedError,
    CliNotAuthenticatedError,
    CliNotFoundError,
    CommandInterruptedError,
    CommandTimeoutError,
    ResumeFailedError,
)
from subgraphs.claude.options import SessionOptions
from subgraphs.claude.runner import CliProcess, OutputItem, RunOutcome, RunRequest
from tests.subgraphs.claude.conftest import pid_exists


async def run(
    config: ClaudeConfig, request: RunRequest, timeout: float | None = None
) -> tuple[RunOutcome, list[OutputItem]]:
    items: list[OutputItem] = []

    async def emit(item: OutputItem) -> None:
        items.append(item)

    outcome = await CliProcess(config, request).run(emit, timeout)
    return outcome, items


def request(workdir: Path, prompt: str, claude_id: str, resume: bool) -> RunRequest:
    return RunRequest(
        prompt=prompt, cwd=str(workdir), claude_session_id=claude_id, resume=resume
    )


async def test_first_command_uses_our_uuid_and_resume_remembers_it(
    config: ClaudeConfig, workdir: Path
) -> None:
    claude_id = str(uuid.uuid4())
    first, items = await run(config, request(workdir, "What is 3+3?", claude_id, False))
    assert first.result == "6"
    init = next(i for i in items if i.kind == "SYSTEM" and i.text == "init")
    assert init.data["session_id"] == claude_id
    assert init.data["cwd"] == str(workdir)
    assert [i.text for i in items if i.kind == "TEXT"] == ["6"]
    result = next(i for i in items if i.kind == "RESULT")
    assert result.data["costUsd"] == first.cost_usd and first.cost_usd

    second, items = await run(
        config, request(workdir, "What was the previous calculation?", claude_id, True)
    )
    assert second.result is not None and "3+3" in second.result
    init = next(i for i in items if i.kind == "SYSTEM" and i.text == "init")
    assert init.data["session_id"] == claude_id


async def test_unknown_resume_uuid_is_resume_failed(
    config: ClaudeConfig, workdir: Path
) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(ResumeFailedError) as caught:
        await run(config, request(workdir, "hello", unknown, True))
    assert caught.value.code == "RESUME_FAILED"
    assert f"No conversation found with session ID: {unknown}" in caught.value.message


async def test_crash_is_cli_crashed_with_the_stderr_tail(
    config: ClaudeConfig, workdir: Path
) -> None:
    with pytest.raises(CliCrashedError) as caught:
        await run(config, request(workdir, "please crash", str(uuid.uuid4()), False))
    assert "exited with status 3" in caught.value.message
    assert "the fake CLI crashed on purpose" in caught.value.message


async def test_not_logged_in_passes_the_cli_message_through(
    config: ClaudeConfig, workdir: Path
) -> None:
    config = dataclasses.replace(config, env={"FAKE_CLAUDE_NOT_LOGGED_IN": "1"})
    with pytest.raises(CliNotAuthenticatedError) as caught:
        await run(config, request(workdir, "What is 1+1?", str(uuid.uuid4()), False))
    assert caught.value.code == "CLI_NOT_AUTHENTICATED"
    assert caught.value.message == "Not logged in · Please run /login"


async def test_missing_cli_is_cli_not_found(
    config: ClaudeConfig, workdir: Path
) -> None:
    config = dataclasses.replace(config, cli_path=str(workdir / "no-such-claude"))
    with pytest.raises(CliNotFoundError) as caught:
        await run(config, request(workdir, "hi", str(uuid.uuid4()), False))
    assert caught.value.code == "CLI_NOT_FOUND"


async def test_missing_working_directory_is_bad_working_directory(
    config: ClaudeConfig, tmp_path: Path
) -> None:
    with pytest.raises(BadWorkingDirectoryError):
        await run(config, request(tmp_path / "gone", "hi", str(uuid.uuid4()), False))


async def test_tool_use_and_result_are_streamed_in_bypass_permissions_mode(
    config: ClaudeConfig, workdir: Path
) -> None:
    bypass = dataclasses.replace(
        request(workdir, "list files please", str(uuid.uuid4()), False),
        options=SessionOptions(permission_mode="bypassPermissions"),
    )
    outcome, items = await run(config, bypass)
    kinds = [i.kind for i in items]
    assert kinds.index("TOOL_USE") < kinds.index("TOOL_RESULT") < kinds.index("RESULT")
    tool_use = next(i for i in items if i.kind == "TOOL_USE")
    tool_result = next(i for i in items if i.kind == "TOOL_RESULT")
    assert tool_use.text == "Bash"
    assert tool_result.data["toolUseId"] == tool_use.data["id"]
    assert tool_result.data["isError"] is False
    assert tool_result.text == "README.md\nmain.py"
    assert outcome.result is not None and "README.md" in outcome.result


async def test_without_anyone_to_ask_the_shell_tool_is_denied(
    config: ClaudeConfig, workdir: Path
) -> None:
    _, items = await run(
        config, request(workdir, "list files please", str(uuid.uuid4()), False)
    )
    tool_result = next(i for i in items if i.kind == "TOOL_RESULT")
    assert tool_result.data["isError"] is True
    result = next(i for i in items if i.kind == "RESULT")
    assert result.data["permissionDenials"][0]["tool_name"] == "Bash"


async def test_interrupt_kills_and_reaps_the_process(
    config: ClaudeConfig, workdir: Path
) -> None:
    process = CliProcess(config, request(workdir, "hang", str(uuid.uuid4()), False))
    seen = asyncio.Event()

    async def emit(item: OutputItem) -> None:
        if item.kind == "TEXT":
            seen.set()

    task = asyncio.create_task(process.run(emit))
    await seen.wait()
    assert process.pid is not None and pid_exists(process.pid)
    await process.stop("interrupt")
    with pytest.raises(CommandInterruptedError):
        await task
    assert not pid_exists(process.pid)


async def test_timeout_kills_and_reaps_the_process(
    config: ClaudeConfig, workdir: Path
) -> None:
    config = dataclasses.replace(config, command_timeout=0.5)
    process = CliProcess(config, request(workdir, "hang", str(uuid.uuid4()), False))

    async def emit(item: OutputItem) -> None:
        pass

    with pytest.raises(CommandTimeoutError) as caught:
        await process.run(emit, config.command_timeout)
    assert caught.value.status == "TIMED_OUT"
    assert process.pid is not None and not pid_exists(process.pid)


async def test_a_process_that_ignores_sigterm_is_killed(
    config: ClaudeConfig, workdir: Path, tmp_path: Path
) -> None:
    stubborn = tmp_path / "stubborn-claude"
    stubborn.write_text(f'#!/bin/sh\ntrap \'\' TERM\nexec "{config.cli_path}" "$@"\n')
    stubborn.chmod(0o755)
    # The trap is inherited by the exec'd fake (SIG_IGN survives exec).
    config = dataclasses.replace(config, cli_path=str(stubborn), kill_grace=0.3)
    process = CliProcess(config, request(workdir, "hang", str(uuid.uuid4()), False))
    seen = asyncio.Event()

    async def emit(item: OutputItem) -> None:
        if item.kind == "TEXT":
            seen.set()

    task = asyncio.create_task(process.run(emit))
    await seen.wait()
    await process.stop("interrupt")
    with pytest.raises(CommandInterruptedError):
        await task
    assert process.pid is not None and not pid_exists(process.pid)
