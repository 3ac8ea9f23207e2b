"""Sessions and their commands: the claude subgraph's behaviour, behind its schema.

``ClaudeService`` owns the SQLite store (and the state directory's lock), the
running CLI processes, the open permission requests and the live output fan-out.
One command runs at a time per session. Every output event is numbered per session
(``seq``, growing across commands), stored, then published; live deltas
(TEXT_DELTA, THINKING_DELTA) are published only, with the seq of the stored event
before them, and the whole text follows as a stored TEXT event.

``output()`` is the resumable source behind ``commandOutput``: it subscribes to the
live fan-out *before* reading the replay from SQLite, then drops live events it has
already replayed (``seq`` <= the last one sent): no gap, no duplicate. A subscriber
that falls ``subscriber_queue_size`` events behind catches up from SQLite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.errors import (
    BadInputError,
    ClaudeSessionNotFoundError,
    CommandError,
    NoRunningCommandError,
    ServiceUnavailableError,
    SessionBusyError,
    SessionClosedError,
    SessionNotFoundError,
)
from subgraphs.claude.fanout import EventFanout, LiveSubscription
from subgraphs.claude.launcher import write_launcher_script
from subgraphs.claude.options import SessionOptions
from subgraphs.claude.paths import working_directory
from subgraphs.claude.permissions import PermissionBroker
from subgraphs.claude.processes import reap_process_group
from subgraphs.claude.runner import (
    LAUNCHER,
    CliProcess,
    OutputItem,
    RunRequest,
)
from subgraphs.claude.statelock import StateLock
from subgraphs.claude.store import (
    CommandRecord,
    OutputEvent,
    PermissionRecord,
    SessionRecord,
    SessionStore,
    Usage,
    utc_now,
)
from subgraphs.claude.transcripts import (
    UUID_PATTERN,
    ClaudeCodeSession,
    find_session,
    session_items,
    sessions_in,
)

__all__ = ["ACTIVE_STATUSES", "ClaudeService"]

logger = logging.getLogger("gateway.claude")

ACTIVE_STATUSES = ("IDLE", "RUNNING", "FAILED")
"""Sessions that can still run commands: every status but CLOSED."""

_REPLAY_PAGE = 500


@dataclass(slots=True)
class _Running:
    """The one command a session is running (or about to run)."""

    process: CliProcess | None = None
    command: CommandRecord | None = None
    task: asyncio.Task[tuple[CommandRecord, CommandError | None]] | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)


class ClaudeService:
    def __init__(self, config: ClaudeConfig) -> None:
        self.config = config
        self.fanout = EventFanout(config.subscriber_queue_size)
        self.permissions = PermissionBroker(self)
        self._lock = StateLock(Path(f"{config.db_path}.lock"))
        self._launcher = LAUNCHER
        self._store: SessionStore | None = None
        self._running: dict[str, _Running] = {}
        self._seqs: dict[str, int] = {}
        self._event_locks: dict[str, asyncio.Lock] = {}
        self._closing: set[str] = set()
        self._shutdown = asyncio.Event()

    # -- lifetime -------------------------------------------------------------------

    @property
    def store(self) -> SessionStore:
        if self._store is None:
            raise ServiceUnavailableError("the claude subgraph is not running")
        return self._store

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[ClaudeService]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        """Lock the state directory, open the database; processes left by a
        previous run are killed and their commands become INTERRUPTED (with an
        ERROR and a COMMAND_FINISHED event to replay), open permission requests
        with them."""
        self._shutdown = asyncio.Event()
        in_memory = str(self.config.db_path) == ":memory:"
        if not in_memory:
            self._lock.acquire()
        try:
            if not in_memory:
                self._launcher = write_launcher_script(self.config.db_path.parent)
            self._store = await SessionStore.open(self.config.db_path)
            await self._recover()
        except BaseException:
            if self._store is not None:
                await self._store.close()
                self._store = None
            self._lock.release()
            raise
        logger.info("claude subgraph started, database %s", self.config.db_path)

    async def _recover(self) -> None:
        store = self.store
        for command in await store.running_commands():
            if command.pid is not None and command.pid_start is not None:
                reap_process_group(command.pid, command.pid_start)
            message = "the gateway stopped while this command was running"
            for request in await store.open_permissions(command.session_id):
                if request.command_id == command.id:
                    await self.permissions.close_stale(request)
            await store.finish_command(
                command.id,
                status="INTERRUPTED",
                error=message,
                error_code="COMMAND_INTERRUPTED",
            )
            await self._emit(
                command.session_id,
                command.id,
                OutputItem("ERROR", message, {"code": "COMMAND_INTERRUPTED"}),
            )
            await self._emit(
                command.session_id,
                command.id,
                OutputItem(
                    "COMMAND_FINISHED", "INTERRUPTED", {"status": "INTERRUPTED"}
                ),
            )
            logger.info("command %s marked INTERRUPTED after restart", command.id)
        for request in await store.open_permissions():
            await self.permissions.close_stale(request)
        for session in await store.list_sessions(["RUNNING"]):
            await store.update_session(session.id, status="IDLE")

    async def stop(self) -> None:
        """Stop every running CLI process, end live streams, close the database."""
        self._shutdown.set()
        running = list(self._running.values())
        await asyncio.gather(
            *(r.process.stop("shutdown") for r in running if r.process is not None),
            return_exceptions=True,
        )
        tasks = [r.task for r in running if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._store is not None:
            await self._store.close()
            self._store = None
        self._lock.release()
        logger.info("claude subgraph stopped")

    # -- queries --------------------------------------------------------------------

    async def session(self, session_id: str) -> SessionRecord | None:
        return await self.store.get_session(session_id)

    async def sessions(
        self, statuses: Sequence[str] | None = None
    ) -> list[SessionRecord]:
        return await self.store.list_sessions(statuses)

    async def active_sessions(self) -> list[SessionRecord]:
        return await self.store.list_sessions(ACTIVE_STATUSES)

    async def sessions_by_id(self, ids: Sequence[str]) -> dict[str, SessionRecord]:
        return await self.store.get_sessions(ids)

    async def commands(self, session_id: str) -> list[CommandRecord]:
        return await self.store.list_commands(session_id)

    async def command(self, command_id: str) -> CommandRecord | None:
        return await self.store.get_command(command_id)

    async def last_seq(self, session_id: str) -> int:
        return await self._current_seq(session_id)

    async def session_usage(self, session_id: str) -> Usage:
        return await self.store.session_usage(session_id)

    async def pending_permissions(self, session_id: str) -> list[PermissionRecord]:
        await self.require_session(session_id)
        return await self.store.open_permissions(session_id)

    async def answer_permission(
        self,
        request_id: str,
        *,
        allow: bool,
        message: str | None = None,
        updated_input: Any = None,
        remember: bool = False,
    ) -> PermissionRecord:
        return await self.permissions.answer(
            request_id,
            allow=allow,
            message=message,
            updated_input=updated_input,
            remember=remember,
        )

    # -- mutations ------------------------------------------------------------------

    async def create_session(
        self,
        path: str,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        directory = working_directory(path, self.config.roots)
        session_options = SessionOptions.from_input(
            options or {},
            bypass_allowed=self.config.dangerous_mode,
            default_mode="bypassPermissions"
            if self.config.dangerous_mode
            else "default",
        )
        return await self.store.create_session(
            working_directory=directory,
            model=model or None,
            claude_session_id=str(uuid.uuid4()),
            options=session_options,
        )

    async def fork_session(
        self, session_id: str, at_seq: int | None = None
    ) -> SessionRecord:
        """A new session (its own UUID) that continues this one's conversation, as
        it was after event ``at_seq`` (default: all of it). Its history is a copy
        of the events up to there; its first command forks the CLI's conversation
        (``--fork-session``, ``--resume-session-at``)."""
        parent = await self.require_session(session_id)
        if not parent.claude_started:
            raise BadInputError(f"session {session_id} has no conversation to fork yet")
        last = await self._current_seq(session_id)
        at = last if at_seq is None else at_seq
        if not 1 <= at <= last:
            raise BadInputError(f"atSeq must be between 1 and {last}")
        directory = working_directory(parent.working_directory, self.config.roots)
        events = await self.store.events_between(session_id, 0, at)
        fork_at: str | None = None
        if at < last:
            marks = [
                e.message_uuid
                for e in events
                if e.message_uuid and e.kind in ("TEXT", "THINKING", "TOOL_USE")
            ]
            if not marks:
                raise BadInputError(
                    f"no message of Claude's at or before seq {at} to fork after"
                )
            fork_at = marks[-1]
        fork = await self.store.create_session(
            working_directory=directory,
            model=parent.model,
            claude_session_id=str(uuid.uuid4()),
            options=parent.options,
            forked_from=parent.claude_session_id,
            fork_at=fork_at,
            origin="FORKED",
        )
        await self._copy_history(fork.id, events)
        return fork

    async def _copy_history(
        self, session_id: str, events: Sequence[OutputEvent]
    ) -> None:
        copied = [
            dataclasses.replace(e, session_id=session_id, seq=seq)
            for seq, e in enumerate(events, start=1)
        ]
        if copied:
            await self.store.append_events(copied)
            self._seqs[session_id] = copied[-1].seq

    async def claude_code_sessions(
        self, path: str
    ) -> list[tuple[ClaudeCodeSession, str | None]]:
        """The sessions the Claude Code CLI has on disk for a directory inside the
        roots, newest first, each with our session id if it was imported."""
        directory = working_directory(path, self.config.roots)
        found = await sessions_in(directory)
        ours = await self.store.sessions_by_claude_ids([s.session_id for s in found])
        return [(s, ours.get(s.session_id)) for s in found]

    async def import_session(self, claude_uuid: str) -> SessionRecord:
        """One of our sessions that resumes the CLI's session ``claude_uuid``, its
        past messages readable as output events. Importing twice returns the
        same session."""
        text = claude_uuid.strip().lower()
        if not UUID_PATTERN.match(text):
            raise BadInputError(f"{claude_uuid!r} is not a session UUID")
        existing = await self.store.sessions_by_claude_ids([text])
        if text in existing:
            return await self.require_session(existing[text])
        found = await find_session(text)
        if found is None or not found.working_directory:
            raise ClaudeSessionNotFoundError(
                f"the Claude Code CLI has no session {text} on disk"
            )
        directory = working_directory(found.working_directory, self.config.roots)
        items = await session_items(text, directory)
        session = await self.store.create_session(
            working_directory=directory,
            model=None,
            claude_session_id=text,
            options=SessionOptions(
                permission_mode="bypassPermissions"
                if self.config.dangerous_mode
                else "default"
            ),
            origin="IMPORTED",
            claude_started=True,
        )
        now = utc_now()
        await self._copy_history(
            session.id,
            [
                OutputEvent(
                    session_id=session.id,
                    seq=0,
                    command_id=None,
                    kind=item.kind,
                    text=item.text,
                    data=item.data,
                    at=now,
                    message_uuid=item.message_uuid,
                )
                for item in items
            ],
        )
        return session

    async def update_options(
        self, session_id: str, options: SessionOptions
    ) -> SessionRecord:
        await self.store.update_session(session_id, options=options)
        return await self.require_session(session_id)

    async def start_command(self, session_id: str, prompt: str) -> CommandRecord:
        """Start a command and return it at once (status RUNNING); its output
        arrives on ``output()``."""
        running = await self._launch(session_id, prompt)
        assert running.command is not None
        return running.command

    async def execute_command(self, session_id: str, prompt: str) -> CommandRecord:
        """Run a command to its end. A failure raises its ``CommandError`` (the
        command is stored with the error). If the caller goes away, the command
        keeps running."""
        running = await self._launch(session_id, prompt)
        assert running.task is not None
        record, error = await asyncio.shield(running.task)
        if error is not None:
            raise error
        return record

    async def interrupt_command(self, session_id: str) -> CommandRecord:
        """Stop the running command (its process is gone when this returns)."""
        session = await self.require_session(session_id)
        running = self._running.get(session.id)
        if running is None:
            raise NoRunningCommandError(f"session {session_id} has no running command")
        await running.started.wait()
        if running.command is not None:
            await self.permissions.interrupt(running.command.id)
        if running.process is not None:
            await running.process.stop("interrupt")
        assert running.task is not None
        record, _ = await asyncio.shield(running.task)
        return record

    async def close_session(self, session_id: str) -> SessionRecord:
        """Stop the running command if any, mark the session CLOSED, end its
        output streams (a SESSION_CLOSED event is the last one)."""
        session = await self.require_session(session_id)
        if session.status == "CLOSED":
            return session
        self._closing.add(session_id)
        try:
            running = self._running.get(session_id)
            if running is not None:
                await running.started.wait()
                if running.process is not None:
                    await running.process.stop("interrupt")
                if running.task is not None:
                    await asyncio.gather(running.task, return_exceptions=True)
            await self.store.update_session(session_id, status="CLOSED")
            await self._emit(session_id, None, OutputItem("SESSION_CLOSED", None, None))
        finally:
            self._closing.discard(session_id)
        closed = await self.store.get_session(session_id)
        assert closed is not None
        return closed

    # -- running a command ------------------------------------------------------------

    async def require_session(self, session_id: str) -> SessionRecord:
        session = await self.store.get_session(session_id)
        if session is None:
            raise SessionNotFoundError(f"no session with id {session_id!r}")
        return session

    async def _launch(self, session_id: str, prompt: str) -> _Running:
        if not prompt.strip():
            raise BadInputError("the command is empty")
        session = await self.require_session(session_id)
        if session.status == "CLOSED" or session_id in self._closing:
            raise SessionClosedError(f"session {session_id} is closed")
        if session_id in self._running:
            raise SessionBusyError(
                f"session {session_id} is already running a command; wait for it "
                "or interrupt it"
            )
        running = _Running()
        self._running[session_id] = running  # reserved: no await since the check
        try:
            working_directory(session.working_directory, self.config.roots)
            command = await self.store.create_command(session_id, prompt)
            running.command = command
            await self.store.update_session(session_id, status="RUNNING")
            await self._emit(
                session_id,
                command.id,
                OutputItem("COMMAND_STARTED", prompt, {"commandId": command.id}),
            )
            request = RunRequest(
                prompt=prompt,
                cwd=session.working_directory,
                claude_session_id=session.claude_session_id,
                resume=session.claude_started,
                model=session.model,
                options=session.options,
                fork_from=session.forked_from,
                fork_at=session.fork_at,
            )

            async def on_spawn(pid: int, start: int | None) -> None:
                await self.store.set_command_process(command.id, pid, start)

            running.process = CliProcess(
                self.config,
                request,
                on_spawn=on_spawn,
                ask_permission=self.permissions.asker(session_id, command.id),
                launcher=self._launcher,
            )
            running.task = asyncio.create_task(
                self._run(session, command, running.process),
                name=f"claude-command-{command.id}",
            )
        except BaseException:
            del self._running[session_id]
            raise
        finally:
            running.started.set()
        return running

    async def _run(
        self, session: SessionRecord, command: CommandRecord, process: CliProcess
    ) -> tuple[CommandRecord, CommandError | None]:
        session_id = session.id
        started = session.claude_started

        async def emit(item: OutputItem) -> None:
            nonlocal started
            if item.kind == "SYSTEM" and item.text == "init" and not started:
                started = True
                await self.store.update_session(session_id, claude_started=True)
                reported = (item.data or {}).get("session_id")
                if (
                    reported
                    and session.forked_from
                    and reported != session.claude_session_id
                ):
                    # A CLI that picks the fork's UUID itself: follow it.
                    await self.store.set_claude_session_id(session_id, reported)
                elif reported and reported != session.claude_session_id:
                    logger.warning(
                        "CLI reports session %s, expected %s",
                        reported,
                        session.claude_session_id,
                    )
            await self._emit(session_id, command.id, item)

        error: CommandError | None = None
        try:
            try:
                try:
                    outcome = await process.run(emit, self.config.command_timeout)
                finally:
                    await self.permissions.command_ended(command.id)
            except CommandError as exc:
                error = exc
                logger.info(
                    "command %s ended: %s %s", command.id, exc.code, exc.message
                )
                record = await self.store.finish_command(
                    command.id,
                    status=exc.status,
                    error=exc.message,
                    error_code=exc.code,
                )
                await self._emit(
                    session_id,
                    command.id,
                    OutputItem("ERROR", exc.message, {"code": exc.code}),
                )
            else:
                record = await self.store.finish_command(
                    command.id,
                    status="SUCCEEDED",
                    result=outcome.result,
                    cost_usd=outcome.cost_usd,
                    duration_ms=outcome.duration_ms,
                    usage=outcome.usage,
                )
            await self._emit(
                session_id,
                command.id,
                OutputItem(
                    "COMMAND_FINISHED", record.status, {"status": record.status}
                ),
            )
            if session_id not in self._closing:
                status = "FAILED" if record.status == "FAILED" else "IDLE"
                await self.store.update_session(session_id, status=status)
            return record, error
        except Exception:
            logger.exception("command %s could not be recorded", command.id)
            raise
        finally:
            self._running.pop(session_id, None)

    # -- output events ----------------------------------------------------------------

    async def _current_seq(self, session_id: str) -> int:
        seq = self._seqs.get(session_id)
        if seq is None:
            seq = await self.store.last_seq(session_id)
            self._seqs[session_id] = seq
        return seq

    async def emit(
        self, session_id: str, command_id: str | None, item: OutputItem
    ) -> OutputEvent:
        """Store and publish one event of a session (numbered by this service)."""
        return await self._emit(session_id, command_id, item)

    async def _emit(
        self, session_id: str, command_id: str | None, item: OutputItem
    ) -> OutputEvent:
        lock = self._event_locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            if item.kind.endswith("_DELTA"):
                delta = OutputEvent(
                    session_id=session_id,
                    seq=await self._current_seq(session_id),
                    command_id=command_id,
                    kind=item.kind,
                    text=item.text,
                    data=item.data,
                    at=utc_now(),
                )
                self.fanout.publish(delta)
                return delta
            seq = await self._current_seq(session_id) + 1
            event = OutputEvent(
                session_id=session_id,
                seq=seq,
                command_id=command_id,
                kind=item.kind,
                text=item.text,
                data=item.data,
                at=utc_now(),
                message_uuid=item.message_uuid,
            )
            await self.store.append_event(event)
            self._seqs[session_id] = seq
            self.fanout.publish(event)
        return event

    async def output(
        self, session_id: str, after_seq: int | None = None, deltas: bool = False
    ) -> AsyncIterator[OutputEvent]:
        """Stored events with ``seq > after_seq``, then live ones, until the session
        is closed (SESSION_CLOSED is the last event). With ``deltas``, live
        TEXT_DELTA / THINKING_DELTA events too (never replayed: the stored TEXT
        holds the whole text)."""
        subscription = self.fanout.subscribe(session_id, deltas)
        try:
            session = await self.require_session(session_id)
            last = max(after_seq or 0, 0)
            async for event in self._replay(session_id, last):
                yield event
                last = event.seq
                if event.kind == "SESSION_CLOSED":
                    return
            if session.status == "CLOSED":
                return
            while True:
                batch = await self._next_live(subscription)
                if subscription.lagged:
                    logger.info(
                        "a subscriber of %s fell behind; catching up from SQLite",
                        session_id,
                    )
                    subscription.catch_up()
                    async for event in self._replay(session_id, last):
                        yield event
                        last = event.seq
                        if event.kind == "SESSION_CLOSED":
                            return
                for event in batch:
                    if not event.stored:
                        if deltas and event.seq == last:
                            yield event
                        continue
                    if event.seq <= last:
                        continue
                    yield event
                    last = event.seq
                    if event.kind == "SESSION_CLOSED":
                        return
        finally:
            self.fanout.unsubscribe(subscription)

    async def _replay(
        self, session_id: str, after_seq: int
    ) -> AsyncIterator[OutputEvent]:
        last = after_seq
        while True:
            page = await self.store.events_after(session_id, last, _REPLAY_PAGE)
            for event in page:
                yield event
                last = event.seq
            if len(page) < _REPLAY_PAGE:
                return

    async def _next_live(self, subscription: LiveSubscription) -> list[OutputEvent]:
        """The next live events, or an error once the service shuts down."""
        waiter = asyncio.ensure_future(subscription.wait())
        shutdown = asyncio.ensure_future(self._shutdown.wait())
        try:
            await asyncio.wait({waiter, shutdown}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, shutdown):
                if not task.done():
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
        if not waiter.done() or waiter.cancelled():
            raise ServiceUnavailableError("the claude subgraph is shutting down")
        return waiter.result()
