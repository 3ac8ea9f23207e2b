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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

__all__ = [
    "MIGRATIONS",
    "CommandRecord",
    "OutputEvent",
    "SessionRecord",
    "SessionStore",
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


@dataclass(frozen=True, slots=True)
class OutputEvent:
    """One message of a session's output; ``seq`` grows by one per session."""

    session_id: str
    seq: int
    command_id: str | None
    kind: str
    text: str | None
    data: Any
    at: str


_SESSION_COLUMNS = (
    "id, claude_session_id, working_directory, model, status, claude_started, "
    "created_at, updated_at"
)
_COMMAND_COLUMNS = (
    "id, session_id, position, prompt, status, result, error, error_code, cost_usd, "
    "duration_ms, started_at, finished_at"
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
        self, *, working_directory: str, model: str | None, claude_session_id: str
    ) -> SessionRecord:
        now = utc_now()
        record = SessionRecord(
            id=new_id(),
            claude_session_id=claude_session_id,
            working_directory=working_directory,
            model=model,
            status="IDLE",
            claude_started=False,
            created_at=now,
            updated_at=now,
        )
        await self._db.execute(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.claude_session_id,
                record.working_directory,
                record.model,
                record.status,
                0,
                now,
                now,
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
    ) -> None:
        sets = ["updated_at = ?"]
        params: list[Any] = [utc_now()]
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
            f"INSERT INTO commands ({_COMMAND_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.session_id,
                record.position,
                record.prompt,
                record.status,
                None,
                None,
                None,
                None,
                None,
                record.started_at,
                None,
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
    ) -> CommandRecord:
        await self._db.execute(
            "UPDATE commands SET status = ?, result = ?, error = ?, error_code = ?, "
            "cost_usd = ?, duration_ms = ?, finished_at = ? WHERE id = ?",
            (
                status,
                result,
                error,
                error_code,
                cost_usd,
                duration_ms,
                utc_now(),
                command_id,
            ),
        )
        await self._db.commit()
        record = await self.get_command(command_id)
        if record is None:  # pragma: no cover - the row was just updated
            raise LookupError(command_id)
        return record

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
        await self._db.execute(
            "INSERT INTO events (session_id, seq, command_id, kind, text, data, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.session_id,
                event.seq,
                event.command_id,
                event.kind,
                event.text,
                json.dumps(event.data) if event.data is not None else None,
                event.at,
            ),
        )
        await self._db.commit()

    async def events_after(
        self, session_id: str, after_seq: int, limit: int = 500
    ) -> list[OutputEvent]:
        async with self._db.execute(
            "SELECT session_id, seq, command_id, kind, text, data, at FROM events "
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
