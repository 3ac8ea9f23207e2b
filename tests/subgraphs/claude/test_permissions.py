"""Permission prompts: the CLI asks (can_use_tool), a client answers, through the
real SDK path against fake-claude."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.errors import (
    BadInputError,
    ForbiddenError,
    PermissionRequestNotFoundError,
)
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.store import OutputEvent
from tests.subgraphs.claude.conftest import FAKE_CLAUDE


async def next_of(
    stream: AsyncIterator[OutputEvent], kind: str, seen: list[OutputEvent]
) -> OutputEvent:
    async for event in stream:
        seen.append(event)
        if event.kind == kind:
            return event
    raise AssertionError(f"the stream ended before {kind}")


async def until_finished(
    stream: AsyncIterator[OutputEvent], seen: list[OutputEvent]
) -> OutputEvent:
    return await next_of(stream, "COMMAND_FINISHED", seen)


async def test_allow_runs_the_tool_and_the_request_is_no_longer_pending(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    stream = service.output(session.id)
    seen: list[OutputEvent] = []
    command = await service.start_command(session.id, "list files please")
    asked = await next_of(stream, "PERMISSION_REQUEST", seen)
    assert asked.text == "Bash"
    assert asked.data["toolName"] == "Bash"
    assert asked.data["input"]["command"] == "ls"
    assert asked.data["suggestions"][0]["rules"] == [
        {"toolName": "Bash", "ruleContent": "ls"}
    ]
    assert asked.data["expiresAt"] is not None
    [pending] = await service.pending_permissions(session.id)
    assert pending.id == asked.data["requestId"]
    assert pending.command_id == command.id and pending.status == "OPEN"

    answered = await service.answer_permission(pending.id, allow=True)
    assert answered.status == "ALLOWED" and answered.answered_at is not None
    await until_finished(stream, seen)
    kinds = [e.kind for e in seen]
    assert kinds.index("PERMISSION_REQUEST") < kinds.index("PERMISSION_RESOLVED")
    assert kinds.index("PERMISSION_RESOLVED") < kinds.index("TOOL_RESULT")
    result = next(e for e in seen if e.kind == "TOOL_RESULT")
    assert result.data["isError"] is False
    assert result.text == "README.md\nmain.py"
    assert await service.pending_permissions(session.id) == []
    finished = await service.command(command.id)
    assert finished is not None and finished.status == "SUCCEEDED"
    with pytest.raises(PermissionRequestNotFoundError):
        await service.answer_permission(pending.id, allow=False)
    await stream.aclose()


async def test_deny_tells_claude_the_message(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    stream = service.output(session.id)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "list files please")
    asked = await next_of(stream, "PERMISSION_REQUEST", seen)
    await service.answer_permission(
        asked.data["requestId"], allow=False, message="Not in this repository."
    )
    await until_finished(stream, seen)
    resolved = next(e for e in seen if e.kind == "PERMISSION_RESOLVED")
    assert resolved.data["status"] == "DENIED"
    result = next(e for e in seen if e.kind == "TOOL_RESULT")
    assert result.data["isError"] is True
    assert result.text == "Not in this repository."
    await stream.aclose()


async def test_an_unanswered_request_is_denied_after_the_timeout(
    config: ClaudeConfig, workdir: Path
) -> None:
    config = dataclasses.replace(config, permission_timeout=0.2)
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        stream = service.output(session.id)
        seen: list[OutputEvent] = []
        await service.start_command(session.id, "list files please")
        await until_finished(stream, seen)
        resolved = next(e for e in seen if e.kind == "PERMISSION_RESOLVED")
        assert resolved.data["status"] == "TIMED_OUT"
        result = next(e for e in seen if e.kind == "TOOL_RESULT")
        assert result.data["isError"] is True
        assert "within 0.2 s" in (result.text or "")
        assert await service.pending_permissions(session.id) == []
        request = await service.store.get_permission(resolved.data["requestId"])
        assert request is not None and request.status == "TIMED_OUT"
        await stream.aclose()


async def test_remember_adds_the_rule_and_the_next_call_is_not_asked_about(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    stream = service.output(session.id)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "list files please")
    asked = await next_of(stream, "PERMISSION_REQUEST", seen)
    await service.answer_permission(asked.data["requestId"], allow=True, remember=True)
    await until_finished(stream, seen)
    again = await service.session(session.id)
    assert again is not None and again.options.allowed_tools == ("Bash(ls)",)

    seen.clear()
    await service.start_command(session.id, "list the files again")
    await until_finished(stream, seen)
    kinds = [e.kind for e in seen]
    assert "PERMISSION_REQUEST" not in kinds
    result = next(e for e in seen if e.kind == "TOOL_RESULT")
    assert result.data["isError"] is False
    await stream.aclose()


async def test_updated_input_is_what_runs(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    stream = service.output(session.id)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "list files please")
    asked = await next_of(stream, "PERMISSION_REQUEST", seen)
    with pytest.raises(BadInputError):
        await service.answer_permission(
            asked.data["requestId"], allow=True, updated_input=["not", "an", "object"]
        )
    await service.answer_permission(
        asked.data["requestId"], allow=True, updated_input={"command": "pwd"}
    )
    await until_finished(stream, seen)
    result = next(e for e in seen if e.kind == "TOOL_RESULT")
    assert result.data["isError"] is False
    assert result.text == ""  # fake-claude lists only for ls: pwd ran instead
    await stream.aclose()


async def test_interrupt_while_asking_closes_the_request(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    stream = service.output(session.id)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "list files please")
    asked = await next_of(stream, "PERMISSION_REQUEST", seen)
    stopped = await service.interrupt_command(session.id)
    assert stopped.status == "INTERRUPTED"
    request = await service.store.get_permission(asked.data["requestId"])
    assert request is not None and request.status == "INTERRUPTED"
    assert await service.pending_permissions(session.id) == []
    await until_finished(stream, seen)
    await stream.aclose()


async def test_rules_and_modes_decide_without_asking(
    service: ClaudeService, workdir: Path
) -> None:
    denied = await service.create_session(
        str(workdir), options={"disallowed_tools": ["Bash"]}
    )
    allowed = await service.create_session(
        str(workdir), options={"allowed_tools": ["Bash(l:*)"]}
    )
    planned = await service.create_session(
        str(workdir), options={"permission_mode": "plan"}
    )
    for session, is_error in [(denied, True), (allowed, False), (planned, True)]:
        stream = service.output(session.id)
        seen: list[OutputEvent] = []
        await service.start_command(session.id, "list files please")
        await until_finished(stream, seen)
        assert "PERMISSION_REQUEST" not in [e.kind for e in seen]
        result = next(e for e in seen if e.kind == "TOOL_RESULT")
        assert result.data["isError"] is is_error, session.options
        init = next(e for e in seen if e.kind == "SYSTEM")
        assert init.data["permissionMode"] == session.options.permission_mode
        await stream.aclose()


async def test_bypass_permissions_needs_the_servers_consent(
    config: ClaudeConfig, workdir: Path
) -> None:
    async with ClaudeService(config).lifespan() as service:
        with pytest.raises(ForbiddenError):
            await service.create_session(
                str(workdir), options={"permission_mode": "bypassPermissions"}
            )
        with pytest.raises(BadInputError):
            await service.create_session(str(workdir), options={"max_turns": 0})
    dangerous = dataclasses.replace(config, dangerous_mode=True)
    async with ClaudeService(dangerous).lifespan() as service:
        default = await service.create_session(str(workdir))
        assert default.options.permission_mode == "bypassPermissions"
        careful = await service.create_session(
            str(workdir), options={"permission_mode": "default"}
        )
        assert careful.options.permission_mode == "default"


async def test_a_restart_closes_requests_left_open(
    config: ClaudeConfig, workdir: Path
) -> None:
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        stream = service.output(session.id)
        seen: list[OutputEvent] = []
        await service.start_command(session.id, "list files please")
        asked = await next_of(stream, "PERMISSION_REQUEST", seen)
        await stream.aclose()
        # Leave it open as a process killed now would (no clean stop).
        running = service._running[session.id]
        assert running.process is not None
        running.process._signal(terminate=False)
        await asyncio.gather(running.task, return_exceptions=True)
        await service.store._db.execute(
            "UPDATE permission_requests SET status = 'OPEN', answered_at = NULL"
        )
        await service.store._db.execute("UPDATE commands SET status = 'RUNNING'")
        await service.store._db.commit()
    async with ClaudeService(config).lifespan() as service:
        assert await service.pending_permissions(session.id) == []
        request = await service.store.get_permission(asked.data["requestId"])
        assert request is not None and request.status == "INTERRUPTED"
        [command] = await service.commands(session.id)
        assert command.status == "INTERRUPTED"


# A rule allowing a whole tool (Read) decides before the callback: chosen, not a
# mistake (the runner filters this warning; pytest resets filters per test).
@pytest.mark.filterwarnings("ignore::claude_agent_sdk.CanUseToolShadowedWarning")
async def test_session_options_reach_the_cli_on_every_command(
    config: ClaudeConfig, workdir: Path, tmp_path: Path
) -> None:
    """The first command and the resumed one get the same flags."""
    log = tmp_path / "argv.log"
    cli = tmp_path / "claude-argv"
    fake = FAKE_CLAUDE
    cli.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\necho --- >> {log}\n'
        f'exec {fake} "$@"\n'
    )
    cli.chmod(0o755)
    config = dataclasses.replace(config, cli_path=str(cli))
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(
            str(workdir),
            model="opus",
            options={
                "permission_mode": "acceptEdits",
                "allowed_tools": ["Read", "Bash(npm test)"],
                "disallowed_tools": ["WebFetch"],
                "system_prompt": "Answer in French.",
                "max_turns": 7,
                "max_budget_usd": 0.25,
            },
        )
        await service.execute_command(session.id, "What is 1+1?")
        await service.execute_command(session.id, "What is 2+2?")
    runs = [run.strip().split("\n") for run in log.read_text().split("---")[:-1]]
    assert len(runs) == 2
    for argv in runs:

        def value(flag: str, argv: list[str] = argv) -> str:
            return argv[argv.index(flag) + 1]

        assert value("--permission-mode") == "acceptEdits"
        assert value("--allowedTools") == "Read,Bash(npm test)"
        assert value("--disallowedTools") == "WebFetch"
        assert value("--append-system-prompt") == "Answer in French."
        assert "--system-prompt" not in argv
        assert value("--max-turns") == "7"
        assert value("--max-budget-usd") == "0.25"
        assert value("--model") == "opus"
        assert value("--permission-prompt-tool") == "stdio"
        assert "--include-partial-messages" in argv
    assert f"--session-id={session.claude_session_id}" in runs[0]
    assert f"--resume={session.claude_session_id}" in runs[1]


async def test_replace_mode_replaces_the_system_prompt(
    service: ClaudeService, workdir: Path
) -> None:
    from subgraphs.claude.runner import CliProcess, RunRequest

    session = await service.create_session(
        str(workdir),
        options={"system_prompt": "You are terse.", "system_prompt_mode": "REPLACE"},
    )
    options = CliProcess(
        service.config,
        RunRequest(
            "hi",
            str(workdir),
            session.claude_session_id,
            False,
            options=session.options,
        ),
    ).options()
    assert options.system_prompt == "You are terse."
