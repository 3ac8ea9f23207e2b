"""One command, one Claude CLI process, driven through claude-agent-sdk's client.

``CliProcess.run()`` spawns the CLI with the SDK's own subprocess transport (so the
flags and the stream-json control protocol are exactly the SDK's), through
``launcher.py`` (own process group, death with the gateway, minimal environment).
It runs one prompt with ``ClaudeSDKClient`` in streaming mode, which is what lets
the CLI ask us for permissions (``can_use_tool`` control requests), stream partial
messages (``--include-partial-messages``: TEXT_DELTA / THINKING_DELTA items) and
be interrupted (the ``interrupt`` control request). Every message becomes an
``OutputItem`` as it arrives; every way a run can fail becomes a ``CommandError``.

``CliProcess.stop()`` ends a run from outside: ``interrupt`` and ``timeout`` first
send the interrupt control request and give the CLI ``interrupt_grace`` seconds to
end its turn (its partial output is kept), then SIGTERM the process group, then
SIGKILL after ``kill_grace``; ``shutdown`` starts at SIGTERM. It returns once the
child has been reaped.

The first command of a session passes ``--session-id <uuid>`` (the UUID we chose);
every later one passes ``--resume <uuid>``, never our own session id. The first
command of a fork passes ``--resume <parent uuid> --fork-session --session-id
<uuid>`` (and ``--resume-session-at <message uuid>`` for a fork at a point).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from claude_agent_sdk import (
    AssistantMessage,
    CanUseToolShadowedWarning,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLIConnectionError,
    CLINotFoundError,
    PermissionResultAllow,
    PermissionResultDeny,
    ProcessError,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolPermissionContext,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from claude_agent_sdk._errors import ResultError
from claude_agent_sdk._internal.transport.subprocess_cli import (
    SubprocessCLITransport,
)
from claude_agent_sdk.types import StreamEvent, SystemPromptPreset

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.environment import cli_environment
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
from subgraphs.claude.launcher import LAUNCH_VARIABLE
from subgraphs.claude.options import SessionOptions
from subgraphs.claude.processes import process_start_time
from subgraphs.claude.store import Usage

__all__ = [
    "LAUNCHER",
    "AskPermission",
    "CliProcess",
    "OutputItem",
    "PermissionAsk",
    "PermissionResult",
    "RunOutcome",
    "RunRequest",
    "SpawnHook",
    "StopReason",
]

logger = logging.getLogger("gateway.claude.runner")

# Rules that allow a whole tool, and bypassPermissions, decide before the
# permission callback by design: the session chose them.
warnings.filterwarnings("ignore", category=CanUseToolShadowedWarning)

LAUNCHER = Path(__file__).with_name("launcher.py")
"""The executable the SDK spawns as the CLI; it execs the real one."""

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
_DELTA_KINDS = {
    "text_delta": ("TEXT_DELTA", "text"),
    "thinking_delta": ("THINKING_DELTA", "thinking"),
}


@dataclass(frozen=True, slots=True)
class RunRequest:
    prompt: str
    cwd: str
    claude_session_id: str
    resume: bool
    """``--resume <claude_session_id>`` if true, else ``--session-id <...>``."""
    model: str | None = None
    options: SessionOptions = field(default_factory=SessionOptions)
    fork_from: str | None = None
    """Start by forking this conversation (``--resume <it> --fork-session``)."""
    fork_at: str | None = None
    """With ``fork_from``: the message uuid to fork after."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: str | None
    cost_usd: float | None
    duration_ms: int | None
    num_turns: int | None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class OutputItem:
    """One piece of a command's output, before it gets its ``seq``.

    ``kind`` is one of SYSTEM, TEXT, THINKING, TOOL_USE, TOOL_RESULT, RESULT,
    OTHER, or (never stored) TEXT_DELTA, THINKING_DELTA.
    """

    kind: str
    text: str | None = None
    data: Any = None
    message_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionAsk:
    """The CLI asks whether a tool may run (a ``can_use_tool`` control request)."""

    tool_name: str
    input: dict[str, Any]
    suggestions: list[dict[str, Any]]
    """The CLI's suggested rules, in the control protocol's wire form."""
    tool_use_id: str | None
    title: str | None


PermissionResult = PermissionResultAllow | PermissionResultDeny
AskPermission = Callable[[PermissionAsk], Awaitable[PermissionResult]]
Emit = Callable[[OutputItem], Awaitable[None]]
SpawnHook = Callable[[int, int | None], Awaitable[None]]
"""Called with the CLI's pid and start time (``/proc``) once it is spawned."""


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _is_directory(path: str) -> bool:
    return os.path.isdir(path)


class _Transport(SubprocessCLITransport):
    """The SDK's subprocess transport, starting the CLI through ``launcher.py``
    (own process group, death with the gateway, minimal environment) and
    reporting the child it spawned so that ``CliProcess.stop()`` can signal it."""

    def __init__(self, owner: CliProcess, options: ClaudeAgentOptions) -> None:
        super().__init__(prompt=_no_prompt(), options=options)
        self._owner = owner

    async def connect(self) -> None:
        cli = self._cli_path
        if cli is None:
            cli = await anyio.to_thread.run_sync(self._find_cli)
        if not _is_executable(cli):
            raise CLINotFoundError(f"Claude Code not found at: {cli}")
        config = self._owner.config
        launch = {
            "cli": cli,
            "env": cli_environment(os.environ, config.env_allow, config.env),
            "parent": os.getpid(),
        }
        self._cli_path = str(self._owner.launcher)
        self._options = dataclasses.replace(
            self._options,
            env={**self._options.env, LAUNCH_VARIABLE: json.dumps(launch)},
        )
        await super().connect()
        # ``_process`` (an anyio Process) is the SDK's own attribute; without it
        # stop() falls back to the SDK closing the process when the run ends.
        await self._owner._spawned(getattr(self, "_process", None))

    async def close(self) -> None:
        process = self._process
        await super().close()
        # The SDK leaves the stdout pipe to the garbage collector; close it (and
        # the asyncio subprocess transport) now, once the child has been reaped.
        if process is not None and process.returncode is not None:
            with suppress(Exception):
                await process.aclose()


async def _no_prompt() -> Any:
    """The transport's prompt stream: the client writes the prompt itself."""
    return
    yield  # pragma: no cover - makes this an async generator


def _system_prompt(options: SessionOptions) -> str | SystemPromptPreset:
    if options.system_prompt is not None and options.system_prompt_mode == "REPLACE":
        return options.system_prompt
    preset: SystemPromptPreset = {"type": "preset", "preset": "claude_code"}
    if options.system_prompt:
        preset["append"] = options.system_prompt
    return preset


def _usage(result: ResultMessage) -> Usage:
    usage = result.usage or {}

    def tokens(key: str) -> int:
        value = usage.get(key)
        return int(value) if isinstance(value, int | float) else 0

    return Usage(
        input_tokens=tokens("input_tokens"),
        output_tokens=tokens("output_tokens"),
        cache_read_tokens=tokens("cache_read_input_tokens"),
        cache_creation_tokens=tokens("cache_creation_input_tokens"),
        cost_usd=float(result.total_cost_usd or 0.0),
        num_turns=int(result.num_turns or 0),
    )


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
        uuid = message.uuid
        items: list[OutputItem] = []
        for block in blocks:
            if isinstance(block, TextBlock):
                if isinstance(message, AssistantMessage):
                    items.append(OutputItem("TEXT", block.text, None, uuid))
            elif isinstance(block, ThinkingBlock):
                items.append(OutputItem("THINKING", block.thinking, None, uuid))
            elif isinstance(block, ToolUseBlock):
                items.append(
                    OutputItem(
                        "TOOL_USE",
                        block.name,
                        {"id": block.id, "name": block.name, "input": block.input},
                        uuid,
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
                        uuid,
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
                    "usage": _json_safe(message.usage),
                },
            )
        ]
    return [OutputItem("OTHER", type(message).__name__, _json_safe(message))]


class CliProcess:
    """One run of the Claude CLI for one command. Not reusable."""

    def __init__(
        self,
        config: ClaudeConfig,
        request: RunRequest,
        *,
        on_spawn: SpawnHook | None = None,
        ask_permission: AskPermission | None = None,
        launcher: Path = LAUNCHER,
    ) -> None:
        self.config = config
        self.request = request
        self.launcher = launcher
        """What the SDK spawns as the CLI: ``launcher.py``, or the script that
        runs it with the gateway's interpreter."""
        self.pid: int | None = None
        self._on_spawn = on_spawn
        self._ask_permission = ask_permission
        self._process: Any = None
        self._client: ClaudeSDKClient | None = None
        self._connected = False
        self._stop_reason: StopReason | None = None
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._done = asyncio.Event()
        self._timeout_task: asyncio.Task[None] | None = None
        self._partial: dict[int, list[str]] = {}
        self._partial_kind: dict[int, str] = {}

    # -- control from outside ------------------------------------------------------

    @property
    def stop_reason(self) -> StopReason | None:
        return self._stop_reason

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def stop(self, reason: StopReason) -> None:
        """End the run (see the module docstring); returns once the process has
        exited and been reaped (or had not been started)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        if self._done.is_set():
            return
        if reason != "shutdown" and await self._interrupt():
            return
        self._signal(terminate=True)
        try:
            await asyncio.wait_for(self._done.wait(), self.config.kill_grace or 0.001)
        except TimeoutError:
            logger.warning("CLI pid %s ignored SIGTERM; killing it", self.pid)
            self._signal(terminate=False)
            await self._done.wait()

    async def _interrupt(self) -> bool:
        """The interrupt control request; True if the run then ended within
        ``interrupt_grace``."""
        client = self._client
        grace = self.config.interrupt_grace
        if client is None or not self._connected or grace <= 0:
            return False
        try:
            await asyncio.wait_for(client.interrupt(), grace)
        except Exception as error:
            logger.info("interrupt request failed (%s); signalling the CLI", error)
            return self._done.is_set()
        try:
            await asyncio.wait_for(self._done.wait(), grace)
        except TimeoutError:
            logger.warning(
                "CLI pid %s did not end its turn %g s after the interrupt request",
                self.pid,
                grace,
            )
            return False
        return True

    def _signal(self, *, terminate: bool) -> None:
        """SIGTERM (or SIGKILL) to the CLI's process group: the CLI and every
        command it started. Before the launcher made the group, to the CLI."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        sig = signal.SIGTERM if terminate else signal.SIGKILL
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            with suppress(ProcessLookupError):
                process.send_signal(sig)

    async def _spawned(self, process: Any) -> None:
        if process is None:
            logger.warning("cannot see the CLI process; it cannot be signalled")
            return
        self._process = process
        self.pid = getattr(process, "pid", None)
        logger.debug("CLI started, pid %s", self.pid)
        if self._on_spawn is not None and self.pid is not None:
            await self._on_spawn(self.pid, process_start_time(self.pid))
        if self._stop_reason is not None:
            self._signal(terminate=True)

    def _on_stderr(self, line: str) -> None:
        self._stderr.append(line)
        logger.debug("CLI stderr: %s", line)

    async def _can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResult:
        if self._ask_permission is None or self._stop_reason is not None:
            return PermissionResultDeny(message="nobody can grant this permission")
        ask = PermissionAsk(
            tool_name=tool_name,
            input=dict(tool_input),
            suggestions=[_json_safe(_suggestion(s)) for s in context.suggestions],
            tool_use_id=context.tool_use_id,
            title=context.title,
        )
        return await self._ask_permission(ask)

    # -- the run ---------------------------------------------------------------------

    def options(self) -> ClaudeAgentOptions:
        request = self.request
        session = request.options
        fork = request.fork_from is not None and not request.resume
        if fork:
            resume: str | None = request.fork_from
        else:
            resume = request.claude_session_id if request.resume else None
        return ClaudeAgentOptions(
            cwd=request.cwd,
            model=request.model or self.config.model,
            # "default" is the CLI's own default: no flag (its --help lists the
            # other modes only).
            permission_mode=None  # type: ignore[arg-type]
            if session.permission_mode == "default"
            else session.permission_mode,
            allowed_tools=list(session.allowed_tools),
            disallowed_tools=list(session.disallowed_tools),
            system_prompt=_system_prompt(session),
            max_turns=session.max_turns,
            max_budget_usd=session.max_budget_usd,
            include_partial_messages=True,
            # bypassPermissions asks nothing (the SDK warns the callback is unused).
            can_use_tool=None
            if session.permission_mode == "bypassPermissions"
            else self._can_use_tool,
            cli_path=self.config.cli_path,
            env=dict(self.config.env),
            stderr=self._on_stderr,
            resume=resume,
            session_id=None if request.resume else request.claude_session_id,
            fork_session=fork,
            resume_session_at=request.fork_at if fork else None,
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
            try:
                return await self._run(emit)
            except CommandError:
                await self._flush_partial(emit)
                raise
        finally:
            if timer is not None:
                timer.cancel()
            self._done.set()

    def _time_out(self) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        self._timeout_task = asyncio.ensure_future(self.stop("timeout"))

    async def _flush_partial(self, emit: Emit) -> None:
        """Text streamed as deltas whose whole message never came (the turn was
        interrupted): stored as TEXT / THINKING with ``data.partial``."""
        partial, self._partial = self._partial, {}
        for index, chunks in sorted(partial.items()):
            text = "".join(chunks)
            if text:
                kind = self._partial_kind.get(index, "TEXT")
                await emit(OutputItem(kind, text, {"partial": True}))

    async def _stream_event(self, message: StreamEvent, emit: Emit) -> None:
        event = message.event if isinstance(message.event, dict) else {}
        kind = event.get("type")
        if kind == "message_start":
            self._partial = {}
            return
        if kind != "content_block_delta":
            return
        delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        found = _DELTA_KINDS.get(str(delta.get("type")))
        if found is None:
            return
        item_kind, key = found
        text = delta.get(key)
        if not isinstance(text, str) or not text:
            return
        index = int(event.get("index") or 0)
        self._partial.setdefault(index, []).append(text)
        self._partial_kind[index] = item_kind[: -len("_DELTA")]
        await emit(OutputItem(item_kind, text, {"index": index}))

    async def _run(self, emit: Emit) -> RunOutcome:
        if not _is_directory(self.request.cwd):
            raise BadWorkingDirectoryError(
                "the session's working directory no longer exists"
            )
        options = self.options()
        # The CLI asks over stdio because can_use_tool is set; the client would
        # add this flag itself, but only to a transport it builds.
        transport = _Transport(
            self,
            dataclasses.replace(options, permission_prompt_tool_name="stdio")
            if options.can_use_tool is not None
            else options,
        )
        client = ClaudeSDKClient(options=options, transport=transport)
        self._client = client
        result: ResultMessage | None = None
        auth_error: str | None = None
        try:
            try:
                await client.connect()
                self._connected = True
                if self._stop_reason is not None:
                    raise self._stopped_error()
                await client.query(self.request.prompt)
                async for message in client.receive_response():
                    if isinstance(message, StreamEvent):
                        await self._stream_event(message, emit)
                        continue
                    if isinstance(message, AssistantMessage):
                        if message.error == "authentication_failed":
                            auth_error = " ".join(
                                block.text
                                for block in message.content
                                if isinstance(block, TextBlock)
                            )
                        if any(
                            isinstance(b, TextBlock | ThinkingBlock)
                            for b in message.content
                        ):
                            self._partial = {}
                    if isinstance(message, ResultMessage):
                        result = message
                        # Text streamed but never written whole (an interrupt
                        # ended the turn mid-message) is kept before the result.
                        await self._flush_partial(emit)
                    for item in _items(message):
                        await emit(item)
            finally:
                self._connected = False
                await client.disconnect()
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
                raise BadWorkingDirectoryError(
                    "the session's working directory no longer exists"
                ) from error
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
            usage=_usage(result),
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
        resumed = self.request.resume or self.request.fork_from is not None
        if resumed and "no conversation found" in text.lower():
            return ResumeFailedError(
                f"the Claude CLI cannot resume session "
                f"{self.request.fork_from or self.request.claude_session_id}: {text}"
            )
        return CliError(text)


def _suggestion(update: Any) -> Any:
    try:
        return update.to_dict()
    except (AttributeError, ValueError):
        return _json_safe(update)
