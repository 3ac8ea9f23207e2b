"""SQLite persistence for sessions, commands and output events (aiosqlite).

Everything is written as it happens, so a restart loses nothing. The schema is
versioned with ``PRAGMA user_version``: ``MIGRATIONS[n]`` brings a database from
version ``n`` to ``n + 1``, in one transaction.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from subgraphs.claude.options import SessionOptions

__all__ = [
    "MIGRATIONS",
    "CommandRecord",
    "OutputEvent",
    "PermissionRecord",
    "SessionRecord",
    "SessionStore",
    "Usage",
    "new_id",
    "utc_now",
]

logger = logging.getLogger("gateway.claude.store")

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: sessions, commands, output events.
    """
    CREATE TABLE sessions (
        id                TEXT PRIMARY KEY,
        claude_session_id TEXT NOT NULL UNIQUE,
        working_directory TEXT NOT NULL,
        model             TEXT,
        status            TEXT NOT NULL,
        claude_started    INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL
    );
    CREATE INDEX sessions_status ON sessions (status);
    CREATE TABLE commands (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        position    INTEGER NOT NULL,
        prompt      TEXT NOT NULL,
        status      TEXT NOT NULL,
        result      TEXT,
        error       TEXT,
        error_code  TEXT,
        cost_usd    REAL,
        duration_ms INTEGER,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (session_id, position)
    );
    CREATE INDEX commands_status ON commands (status);
    CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        seq        INTEGER NOT NULL,
        command_id TEXT,
        kind       TEXT NOT NULL,
        text       TEXT,
        data       TEXT,
        at         TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: the CLI's pid (reaped after a crash), usage, session options, forks
    # and imports, the CLI's message uuids, permission requests.
    """
    ALTER TABLE commands ADD COLUMN pid INTEGER;
    ALTER TABLE commands ADD COLUMN pid_start INTEGER;
    ALTER TABLE commands ADD COLUMN num_turns INTEGER;
    ALTER TABLE commands ADD COLUMN input_tokens INTEGER;
    ALTER TABLE commands ADD COLUMN output_tokens INTEGER;
    ALTER TABLE commands ADD COLUMN cache_read_tokens INTEGER;
    ALTER TABLE commands ADD COLUMN cache_creation_tokens INTEGER;
    ALTER TABLE sessions ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN forked_from TEXT;
    ALTER TABLE sessions ADD COLUMN fork_at TEXT;
    ALTER TABLE sessions ADD COLUMN origin TEXT NOT NULL DEFAULT 'CREATED';
    ALTER TABLE events ADD COLUMN message_uuid TEXT;
    CREATE TABLE permission_requests (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        command_id  TEXT NOT NULL REFERENCES commands (id),
        tool_name   TEXT NOT NULL,
        input       TEXT NOT NULL,
        suggestions TEXT NOT NULL,
        tool_use_id TEXT,
        title       TEXT,
        status      TEXT NOT NULL,
        message     TEXT,
        remember    INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT NOT NULL,
        expires_at  TEXT,
        answered_at TEXT
    );
    CREATE INDEX permission_requests_open ON permission_requests (status, session_id);
    """,
)


def utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds, e.g. ``2026-01-07T10:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    """A short, URL-safe random id (16 characters)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    claude_session_id: str
    working_directory: str
    model: str | None
    status: str
    claude_started: bool
    """Whether the CLI has started the conversation (then we ``--resume`` it)."""
    created_at: str
    updated_at: str
    options: SessionOptions = field(default_factory=SessionOptions)
    forked_from: str | None = None
    """The Claude UUID this session forks (its first command resumes it with
    ``--fork-session``)."""
    fork_at: str | None = None
    """The CLI message uuid the fork starts after (``--resume-session-at``)."""
    origin: str = "CREATED"
    """CREATED, FORKED or IMPORTED."""


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: str
    session_id: str
    position: int
    prompt: str
    status: str
    result: str | None
    error: str | None
    error_code: str | None
    cost_usd: float | None
    duration_ms: int | None
    started_at: str
    finished_at: str | None
    pid: int | None = None
    pid_start: int | None = None
    num_turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost: one command's, or the sum over a session's commands."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    num_turns: int = 0


@dataclass(frozen=True, slots=True)
class OutputEvent:
    """One message of a session's output; ``seq`` grows by one per session.

    Live deltas (TEXT_DELTA, THINKING_DELTA) are never stored: they carry the
    ``seq`` of the stored event before them."""

    session_id: str
    seq: int
    command_id: str | None
    kind: str
    text: str | None
    data: Any
    at: str
    message_uuid: str | None = None
    """The CLI's uuid of the message this event came from (forks start there)."""

    @property
    def stored(self) -> bool:
        return not self.kind.endswith("_DELTA")


@dataclass(frozen=True, slots=True)
class PermissionRecord:
    id: str
    session_id: str
    command_id: str
    tool_name: str
    input: Any
    suggestions: Any
    tool_use_id: str | None
    title: str | None
    status: str
    """OPEN, ALLOWED, DENIED, TIMED_OUT or INTERRUPTED."""
    message: str | None
    remember: bool
    created_at: str
    expires_at: str | None
    answered_at: str | None


_SESSION_COLUMNS = (
    "id, claude_session_id, working_directory, model, status, claude_started, "
    "created_at, updated_at, options, forked_from, fork_at, origin"
)
_COMMAND_COLUMNS = (
    "id, session_id, position, prompt, status, result, error, error_code, cost_usd, "
    "duration_ms, started_at, finished_at, pid, pid_start, num_turns, input_tokens, "
    "output_tokens, cache_read_tokens, cache_creation_tokens"
)
_EVENT_COLUMNS = "session_id, seq, command_id, kind, text, data, at, message_uuid"
_PERMISSION_COLUMNS = (
    "id, session_id, command_id, tool_name, input, suggestions, tool_use_id, title, "
    "status, message, remember, created_at, expires_at, answered_at"
)


def _session(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        claude_session_id=row[1],
        working_directory=row[2],
        model=row[3],
        status=row[4],
        claude_started=bool(row[5]),
        created_at=row[6],
        updated_at=row[7],
        options=SessionOptions.from_json(row[8]),
        forked_from=row[9],
        fork_at=row[10],
        origin=row[11],
    )


def _command(row: Sequence[Any]) -> CommandRecord:
    return CommandRecord(*row)


def _event(row: Sequence[Any]) -> OutputEvent:
    return OutputEvent(
        session_id=row[0],
        seq=row[1],
        command_id=row[2],
        kind=row[3],
        text=row[4],
        data=json.loads(row[5]) if row[5] is not None else None,
        at=row[6],
        message_uuid=row[7],
    )


def _permission(row: Sequence[Any]) -> PermissionRecord:
    return PermissionRecord(
        id=row[0],
        session_id=row[1],
        command_id=row[2],
        tool_name=row[3],
        input=json.loads(row[4]),
        suggestions=json.loads(row[5]),
        tool_use_id=row[6],
        title=row[7],
        status=row[8],
        message=row[9],
        remember=bool(row[10]),
        created_at=row[11],
        expires_at=row[12],
        answered_at=row[13],
    )


class SessionStore:
    """The subgraph's SQLite database. ``await SessionStore.open(path)``; ``close()``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SessionStore:
        """Open (creating the file and its directory) and migrate to the latest."""
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path))
        try:
            await db.execute("PRAGMA foreign_keys = ON")
            if str(path) != ":memory:":
                await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            store = cls(db, path)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this code "
                f"({len(MIGRATIONS)}); upgrade the gateway"
            )
        for target in range(version + 1, len(MIGRATIONS) + 1):
            script = MIGRATIONS[target - 1]
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;"
            )
            logger.info("migrated %s to schema version %d", self.path, target)

    # -- sessions -----------------------------------------------------------------

    async def create_session(
        self,
        *,
        working_directory: str,
        model: str | None,
        claude_session_id: str,
        options: SessionOptions | None = None,
        forked_from: str | None = None,
        fork_at: str | None = None,
        origin: str = "CREATED",
        claude_started: bool = False,
    ) -> SessionRecord:
        now = utc_now()
        record = SessionRecord(
            id=new_id(),
            claude_session_id=claude_session_id,
            working_directory=working_directory,
            model=model,
            status="IDLE",
            claude_started=claude_started,
            created_at=now,
            updated_at=now,
            options=options or SessionOptions(),
            forked_from=forked_from,
            fork_at=fork_at,
            origin=origin,
        )
        await self._db.execute(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.claude_session_id,
                record.working_directory,
                record.model,
                record.status,
                int(claude_started),
                now,
                now,
                record.options.to_json(),
                forked_from,
                fork_at,
                origin,
            ),
        )
        await self._db.commit()
        return record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _session(row) if row else None

    async def get_sessions(self, ids: Sequence[str]) -> dict[str, SessionRecord]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        async with self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id IN ({marks})", tuple(ids)
        ) as cursor:
            rows = await cursor.fetchall()
        return {row[0]: _session(row) for row in rows}

    async def list_sessions(
        self, statuses: Sequence[str] | None = None
    ) -> list[SessionRecord]:
        query = f"SELECT {_SESSION_COLUMNS} FROM sessions"
        params: tuple[str, ...] = ()
        if statuses:
            query += f" WHERE status IN ({', '.join('?' for _ in statuses)})"
            params = tuple(statuses)
        query += " ORDER BY created_at, rowid"
        async with self._db.execute(query, params) as cursor:
            rows = await cursor.fetchall()
        return [_session(row) for row in rows]

    async def update_session(
        self,
        session_id: str,
        *,
        status: str | None = None,
        claude_started: bool | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        sets = ["updated_at = ?"]
        params: list[Any] = [utc_now()]
        if options is not None:
            sets.append("options = ?")
            params.append(options.to_json())
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if claude_started is not None:
            sets.append("claude_started = ?")
            params.append(int(claude_started))
        params.append(session_id)
        await self._db.execute(
            f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", tuple(params)
        )
        await self._db.commit()

    async def set_claude_session_id(self, session_id: str, claude_id: str) -> None:
        await self._db.execute(
            "UPDATE sessions SET claude_session_id = ?, updated_at = ? WHERE id = ?",
            (claude_id, utc_now(), session_id),
        )
        await self._db.commit()

    async def sessions_by_claude_ids(self, claude_ids: Sequence[str]) -> dict[str, str]:
        """Our session id by Claude UUID, for those we have."""
        if not claude_ids:
            return {}
        marks = ", ".join("?" for _ in claude_ids)
        async with self._db.execute(
            f"SELECT claude_session_id, id FROM sessions "
            f"WHERE claude_session_id IN ({marks})",
            tuple(claude_ids),
        ) as cursor:
            rows = await cursor.fetchall()
        return {row[0]: row[1] for row in rows}

    # -- commands -----------------------------------------------------------------

    async def create_command(self, session_id: str, prompt: str) -> CommandRecord:
        async with self._db.execute(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM commands WHERE session_id = ?",
            (session_id,),
        ) as cursor:
            row = await cursor.fetchone()
        position = int(row[0]) if row else 1
        record = CommandRecord(
            id=new_id(),
            session_id=session_id,
            position=position,
            prompt=prompt,
            status="RUNNING",
            result=None,
            error=None,
            error_code=None,
            cost_usd=None,
            duration_ms=None,
            started_at=utc_now(),
            finished_at=None,
        )
        await self._db.execute(
            "INSERT INTO commands (id, session_id, position, prompt, status, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.session_id,
                record.position,
                record.prompt,
                record.status,
                record.started_at,
            ),
        )
        await self._db.commit()
        return record

    async def finish_command(
        self,
        command_id: str,
        *,
        status: str,
        result: str | None = None,
        error: str | None = None,
        error_code: str | None = None,
        cost_usd: float | None = None,
        duration_ms: int | None = None,
        usage: Usage | None = None,
    ) -> CommandRecord:
        await self._db.execute(
            "UPDATE commands SET status = ?, result = ?, error = ?, error_code = ?, "
            "cost_usd = ?, duration_ms = ?, finished_at = ?, num_turns = ?, "
            "input_tokens = ?, output_tokens = ?, cache_read_tokens = ?, "
            "cache_creation_tokens = ? WHERE id = ?",
            (
                status,
                result,
                error,
                error_code,
                cost_usd,
                duration_ms,
                utc_now(),
                usage.num_turns if usage else None,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                usage.cache_read_tokens if usage else None,
                usage.cache_creation_tokens if usage else None,
                command_id,
            ),
        )
        await self._db.commit()
        record = await self.get_command(command_id)
        if record is None:  # pragma: no cover - the row was just updated
            raise LookupError(command_id)
        return record

    async def set_command_process(
        self, command_id: str, pid: int, pid_start: int | None
    ) -> None:
        await self._db.execute(
            "UPDATE commands SET pid = ?, pid_start = ? WHERE id = ?",
            (pid, pid_start, command_id),
        )
        await self._db.commit()

    async def session_usage(self, session_id: str) -> Usage:
        async with self._db.execute(
            "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cache_read_tokens), 0), "
            "COALESCE(SUM(cache_creation_tokens), 0), COALESCE(SUM(cost_usd), 0), "
            "COALESCE(SUM(num_turns), 0) FROM commands WHERE session_id = ?",
            (session_id,),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return Usage(
            input_tokens=int(row[0]),
            output_tokens=int(row[1]),
            cache_read_tokens=int(row[2]),
            cache_creation_tokens=int(row[3]),
            cost_usd=float(row[4]),
            num_turns=int(row[5]),
        )

    async def get_command(self, command_id: str) -> CommandRecord | None:
        async with self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?", (command_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _command(row) if row else None

    async def list_commands(self, session_id: str) -> list[CommandRecord]:
        async with self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE session_id = ? "
            "ORDER BY position",
            (session_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_command(row) for row in rows]

    async def running_commands(self) -> list[CommandRecord]:
        async with self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE status = 'RUNNING' "
            "ORDER BY session_id, position"
        ) as cursor:
            rows = await cursor.fetchall()
        return [_command(row) for row in rows]

    # -- events -------------------------------------------------------------------

    async def append_event(self, event: OutputEvent) -> None:
        await self.append_events([event])

    async def append_events(self, events: Sequence[OutputEvent]) -> None:
        await self._db.executemany(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    event.session_id,
                    event.seq,
                    event.command_id,
                    event.kind,
                    event.text,
                    json.dumps(event.data) if event.data is not None else None,
                    event.at,
                    event.message_uuid,
                )
                for event in events
            ],
        )
        await self._db.commit()

    async def events_after(
        self, session_id: str, after_seq: int, limit: int = 500
    ) -> list[OutputEvent]:
        async with self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events "
            "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (session_id, after_seq, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_event(row) for row in rows]

    async def last_seq(self, session_id: str) -> int:
        async with self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?",
            (session_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def events_between(
        self, session_id: str, after_seq: int, up_to_seq: int
    ) -> list[OutputEvent]:
        async with self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events "
            "WHERE session_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (session_id, after_seq, up_to_seq),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_event(row) for row in rows]

    # -- permission requests ------------------------------------------------------

    async def create_permission(self, record: PermissionRecord) -> None:
        await self._db.execute(
            f"INSERT INTO permission_requests ({_PERMISSION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.session_id,
                record.command_id,
                record.tool_name,
                json.dumps(record.input),
                json.dumps(record.suggestions),
                record.tool_use_id,
                record.title,
                record.status,
                record.message,
                int(record.remember),
                record.created_at,
                record.expires_at,
                record.answered_at,
            ),
        )
        await self._db.commit()

    async def get_permission(self, request_id: str) -> PermissionRecord | None:
        async with self._db.execute(
            f"SELECT {_PERMISSION_COLUMNS} FROM permission_requests WHERE id = ?",
            (request_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return _permission(row) if row else None

    async def open_permissions(
        self, session_id: str | None = None
    ) -> list[PermissionRecord]:
        query = f"SELECT {_PERMISSION_COLUMNS} FROM permission_requests "
        query += "WHERE status = 'OPEN'"
        params: tuple[str, ...] = ()
        if session_id is not None:
            query += " AND session_id = ?"
            params = (session_id,)
        async with self._db.execute(query + " ORDER BY created_at, rowid", params) as c:
            rows = await c.fetchall()
        return [_permission(row) for row in rows]

    async def finish_permission(
        self, request_id: str, *, status: str, message: str | None, remember: bool
    ) -> tuple[PermissionRecord, bool]:
        """Close an OPEN request; a request that is no longer open is left as it
        is (the first answer wins). The record, and whether this call closed it."""
        async with self._db.execute(
            "UPDATE permission_requests SET status = ?, message = ?, remember = ?, "
            "answered_at = ? WHERE id = ? AND status = 'OPEN'",
            (status, message, int(remember), utc_now(), request_id),
        ) as cursor:
            changed = cursor.rowcount == 1
        await self._db.commit()
        record = await self.get_permission(request_id)
        if record is None:  # pragma: no cover - the row exists
            raise LookupError(request_id)
        return record, changed

    async def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``ok`` for a sound database."""
        async with self._db.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else ""
