"""One command, one Claude CLI process, run through claude-agent-sdk.

``CliProcess.run()`` spawns the CLI with the SDK's own subprocess transport (so the
flags, environment and stream-json protocol are exactly the SDK's), turns every
message into an ``OutputItem`` as it arrives, and maps every way a run can fail to a
``CommandError`` with its code. ``CliProcess.stop()`` ends the process from outside
(``interruptCommand``, the command timeout, shutdown): SIGTERM, then SIGKILL after
``kill_grace`` seconds, and returns only once the child has been reaped.

The first command of a session passes ``--session-id <uuid>`` (the UUID we chose);
every later one passes ``--resume <uuid>``, never our own session id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any, Literal, cast

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKError,
    CLIConnectionError,
    CLINotFoundError,
    ProcessError,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    query,
)
from claude_agent_sdk._errors import ResultError
from claude_agent_sdk._internal.transport.subprocess_cli import (
    SubprocessCLITransport,
)

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.errors import (
    BadWorkingDirectoryError,
    CliCrashedError,
    CliError,
    CliNotAuthenticatedError,
    CliNotFoundError,
    CommandError,
    CommandInterruptedError,
    CommandTimeoutError,
    ResumeFailedError,
)

__all__ = [
    "CliProcess",
    "OutputItem",
    "RunOutcome",
    "RunRequest",
    "StopReason",
    "working_directory",
]

logger = logging.getLogger("gateway.claude.runner")

StopReason = Literal["interrupt", "timeout", "shutdown"]

_STDERR_TAIL_LINES = 20
_AUTH_MARKERS = ("not logged in", "invalid api key", "please run /login")
_INIT_KEYS = (
    "session_id",
    "cwd",
    "model",
    "permissionMode",
    "tools",
    "apiKeySource",
    "claude_code_version",
)


@dataclass(frozen=True, slots=True)
class RunRequest:
    prompt: str
    cwd: str
    claude_session_id: str
    resume: bool
    """``--resume <claude_session_id>`` if true, else ``--session-id <...>``."""
    model: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: str | None
    cost_usd: float | None
    duration_ms: int | None
    num_turns: int | None


@dataclass(frozen=True, slots=True)
class OutputItem:
    """One piece of a command's output, before it gets its ``seq``.

    ``kind`` is one of SYSTEM, TEXT, THINKING, TOOL_USE, TOOL_RESULT, RESULT, OTHER.
    """

    kind: str
    text: str | None = None
    data: Any = None


Emit = Callable[[OutputItem], Awaitable[None]]


def working_directory(path: str) -> str:
    """``path`` made absolute, or ``BadWorkingDirectoryError`` if it is not an
    existing directory."""
    directory = os.path.abspath(os.path.expanduser(path)) if path.strip() else ""
    if not directory or not os.path.isdir(directory):
        raise BadWorkingDirectoryError(
            f"working directory {path!r} does not exist or is not a directory"
        )
    return directory


class _Transport(SubprocessCLITransport):
    """The SDK's subprocess transport, reporting the child it spawned so that
    ``CliProcess.stop()`` can signal it."""

    def __init__(self, owner: CliProcess, prompt: str, options: ClaudeAgentOptions):
        super().__init__(prompt=prompt, options=options)
        self._owner = owner

    async def connect(self) -> None:
        await super().connect()
        # ``_process`` (an anyio Process) is the SDK's own attribute; without it
        # stop() falls back to the SDK closing the process when the run ends.
        self._owner._spawned(getattr(self, "_process", None))

    async def close(self) -> None:
        process = self._process
        await super().close()
        # The SDK leaves the stdout pipe to the garbage collector; close it (and
        # the asyncio subprocess transport) now, once the child has been reaped.
        if process is not None and process.returncode is not None:
            with suppress(Exception):
                await process.aclose()


def _json_safe(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _tool_result_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        return "\n".join(parts) if parts else None
    return str(content)


def _items(message: Any) -> list[OutputItem]:
    """The output items of one SDK message."""
    if isinstance(message, SystemMessage):
        data = message.data
        if message.subtype == "init":
            data = {key: data[key] for key in _INIT_KEYS if key in data}
        return [OutputItem("SYSTEM", message.subtype, _json_safe(data))]
    if isinstance(message, AssistantMessage | UserMessage):
        blocks = message.content if isinstance(message.content, list) else []
        items: list[OutputItem] = []
        for block in blocks:
            if isinstance(block, TextBlock):
                if isinstance(message, AssistantMessage):
                    items.append(OutputItem("TEXT", block.text))
            elif isinstance(block, ThinkingBlock):
                items.append(OutputItem("THINKING", block.thinking))
            elif isinstance(block, ToolUseBlock):
                items.append(
                    OutputItem(
                        "TOOL_USE",
                        block.name,
                        {"id": block.id, "name": block.name, "input": block.input},
                    )
                )
            elif isinstance(block, ToolResultBlock):
                items.append(
                    OutputItem(
                        "TOOL_RESULT",
                        _tool_result_text(block.content),
                        {
                            "toolUseId": block.tool_use_id,
                            "content": _json_safe(block.content),
                            "isError": bool(block.is_error),
                        },
                    )
                )
        return items
    if isinstance(message, ResultMessage):
        return [
            OutputItem(
                "RESULT",
                message.result,
                {
                    "subtype": message.subtype,
                    "isError": message.is_error,
                    "costUsd": message.total_cost_usd,
                    "durationMs": message.duration_ms,
                    "numTurns": message.num_turns,
                    "sessionId": message.session_id,
                    "errors": message.errors,
                    "permissionDenials": _json_safe(message.permission_denials),
                },
            )
        ]
    return [OutputItem("OTHER", type(message).__name__, _json_safe(message))]


class CliProcess:
    """One run of the Claude CLI for one command. Not reusable."""

    def __init__(self, config: ClaudeConfig, request: RunRequest) -> None:
        self.config = config
        self.request = request
        self.pid: int | None = None
        self._process: Any = None
        self._stop_reason: StopReason | None = None
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._done = asyncio.Event()
        self._timeout_task: asyncio.Task[None] | None = None

    # -- control from outside ------------------------------------------------------

    @property
    def stop_reason(self) -> StopReason | None:
        return self._stop_reason

    async def stop(self, reason: StopReason) -> None:
        """End the run: SIGTERM, SIGKILL after ``kill_grace``; returns once the
        process has exited and been reaped (or had not been started)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._signal(terminate=True)
        try:
            await asyncio.wait_for(self._done.wait(), self.config.kill_grace or 0.001)
        except TimeoutError:
            logger.warning("CLI pid %s ignored SIGTERM; killing it", self.pid)
            self._signal(terminate=False)
            await self._done.wait()

    def _signal(self, *, terminate: bool) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with suppress(ProcessLookupError):
            if terminate:
                process.terminate()
            else:
                process.kill()

    def _spawned(self, process: Any) -> None:
        if process is None:
            logger.warning("cannot see the CLI process; it cannot be signalled")
            return
        self._process = process
        self.pid = getattr(process, "pid", None)
        logger.debug("CLI started, pid %s", self.pid)
        if self._stop_reason is not None:
            self._signal(terminate=True)

    def _on_stderr(self, line: str) -> None:
        self._stderr.append(line)
        logger.debug("CLI stderr: %s", line)

    # -- the run ---------------------------------------------------------------------

    def options(self) -> ClaudeAgentOptions:
        request = self.request
        return ClaudeAgentOptions(
            cwd=request.cwd,
            model=request.model or self.config.model,
            permission_mode="bypassPermissions" if self.config.dangerous_mode else None,
            cli_path=self.config.cli_path,
            env=dict(self.config.env),
            stderr=self._on_stderr,
            resume=request.claude_session_id if request.resume else None,
            session_id=None if request.resume else request.claude_session_id,
        )

    async def run(self, emit: Emit, timeout: float | None = None) -> RunOutcome:
        """Run the command to its end, emitting its output as it arrives.

        Raises a ``CommandError`` subclass for every failure, including a stop."""
        timer: asyncio.TimerHandle | None = None
        if timeout:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(timeout, self._time_out)
        try:
            if self._stop_reason is not None:
                raise self._stopped_error()
            return await self._run(emit)
        finally:
            if timer is not None:
                timer.cancel()
            self._done.set()

    def _time_out(self) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        self._timeout_task = asyncio.ensure_future(self.stop("timeout"))

    async def _run(self, emit: Emit) -> RunOutcome:
        working_directory(self.request.cwd)
        options = self.options()
        transport = _Transport(self, self.request.prompt, options)
        result: ResultMessage | None = None
        auth_error: str | None = None
        try:
            # query() is an async generator (typed as an iterator): close it
            # explicitly so the SDK's cleanup runs before we go on.
            messages = cast(
                AsyncGenerator[Any, None],
                query(prompt=self.request.prompt, options=options, transport=transport),
            )
            async with aclosing(messages) as stream:
                async for message in stream:
                    if isinstance(message, AssistantMessage) and message.error:
                        if message.error == "authentication_failed":
                            auth_error = " ".join(
                                block.text
                                for block in message.content
                                if isinstance(block, TextBlock)
                            )
                    if isinstance(message, ResultMessage):
                        result = message
                    for item in _items(message):
                        await emit(item)
        except ResultError as error:
            if self._stop_reason is not None:
                raise self._stopped_error() from error
            raise self._result_error(error.data, auth_error) from error
        except CLINotFoundError as error:
            where = self.config.cli_path or "the bundled CLI"
            raise CliNotFoundError(
                f"Claude CLI not found ({where}): set CLAUDE_CLI_PATH or cli_path"
            ) from error
        except ProcessError as error:
            if self._stop_reason is not None:
                raise self._stopped_error() from error
            raise CliCrashedError(
                f"the Claude CLI exited with status {error.exit_code}"
                + self._stderr_tail()
            ) from error
        except CLIConnectionError as error:
            if self._stop_reason is not None:
                raise self._stopped_error() from error
            text = str(error)
            if "Working directory" in text:
                raise BadWorkingDirectoryError(text) from error
            if self.pid is None:
                where = self.config.cli_path or "the bundled CLI"
                raise CliNotFoundError(
                    f"cannot start the Claude CLI ({where}): {text}"
                ) from error
            raise CliCrashedError(f"{text}{self._stderr_tail()}") from error
        except (ClaudeSDKError, Exception) as error:
            if isinstance(error, CommandError):
                raise
            if self._stop_reason is not None:
                raise self._stopped_error() from error
            raise CliCrashedError(
                f"the Claude CLI failed: {error}{self._stderr_tail()}"
            ) from error
        if self._stop_reason is not None and (result is None or result.is_error):
            raise self._stopped_error()
        if result is None:
            raise CliCrashedError(
                "the Claude CLI ended without a result" + self._stderr_tail()
            )
        if result.is_error:
            raise self._result_error(
                {"result": result.result, "errors": result.errors}, auth_error
            )
        return RunOutcome(
            result=result.result,
            cost_usd=result.total_cost_usd,
            duration_ms=result.duration_ms,
            num_turns=result.num_turns,
        )

    def _stopped_error(self) -> CommandError:
        if self._stop_reason == "timeout":
            return CommandTimeoutError(
                f"the command ran longer than {self.config.command_timeout:g} s "
                "and was stopped"
            )
        if self._stop_reason == "shutdown":
            return CommandInterruptedError("the gateway shut down during the command")
        return CommandInterruptedError("the command was interrupted")

    def _stderr_tail(self) -> str:
        if not self._stderr:
            return ""
        return ": " + "\n".join(self._stderr)

    def _result_error(self, data: Any, auth_error: str | None) -> CommandError:
        data = data if isinstance(data, dict) else {}
        errors = [str(e) for e in data.get("errors") or [] if str(e).strip()]
        text = "; ".join(errors) or str(data.get("result") or "").strip()
        text = text or "the Claude CLI reported an error"
        if auth_error or any(marker in text.lower() for marker in _AUTH_MARKERS):
            return CliNotAuthenticatedError(auth_error or text)
        if self.request.resume and "no conversation found" in text.lower():
            return ResumeFailedError(
                f"the Claude CLI cannot resume session "
                f"{self.request.claude_session_id}: {text}"
            )
        return CliError(text)
