"""SessionStore: versioned migrations, persistence across reopen, event order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from subgraphs.claude.store import MIGRATIONS, OutputEvent, SessionStore, utc_now


async def test_a_new_database_is_created_with_its_directory_at_the_latest_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "dir" / "claude.sqlite3"
    store = await SessionStore.open(path)
    try:
        assert path.exists()
        assert await store.schema_version() == len(MIGRATIONS)
    finally:
        await store.close()


async def test_a_database_from_newer_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "claude.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this code"):
        await SessionStore.open(path)


async def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "claude.sqlite3"
    store = await SessionStore.open(path)
    session = await store.create_session(
        working_directory="/tmp", model="sonnet", claude_session_id="uuid-1"
    )
    command = await store.create_command(session.id, "What is 3+3?")
    for seq, kind in enumerate(["COMMAND_STARTED", "TEXT", "RESULT"], start=1):
        await store.append_event(
            OutputEvent(session.id, seq, command.id, kind, "6", {"n": seq}, utc_now())
        )
    await store.finish_command(
        command.id, status="SUCCEEDED", result="6", cost_usd=0.01, duration_ms=5
    )
    await store.update_session(session.id, claude_started=True)
    await store.close()

    store = await SessionStore.open(path)
    try:
        reopened = await store.get_session(session.id)
        assert reopened is not None
        assert reopened.claude_session_id == "uuid-1"
        assert reopened.claude_started is True
        assert reopened.model == "sonnet"
        [stored] = await store.list_commands(session.id)
        assert (stored.status, stored.result, stored.cost_usd) == (
            "SUCCEEDED",
            "6",
            0.01,
        )
        assert stored.finished_at is not None
        events = await store.events_after(session.id, 1)
        assert [(e.seq, e.kind, e.data) for e in events] == [
            (2, "TEXT", {"n": 2}),
            (3, "RESULT", {"n": 3}),
        ]
        assert await store.last_seq(session.id) == 3
        assert await store.last_seq("other") == 0
    finally:
        await store.close()


async def test_sessions_filter_by_status_and_commands_keep_their_order(
    tmp_path: Path,
) -> None:
    store = await SessionStore.open(tmp_path / "claude.sqlite3")
    try:
        a = await store.create_session(
            working_directory="/a", model=None, claude_session_id="u-a"
        )
        b = await store.create_session(
            working_directory="/b", model=None, claude_session_id="u-b"
        )
        await store.update_session(b.id, status="CLOSED")
        assert [s.id for s in await store.list_sessions(["IDLE"])] == [a.id]
        assert [s.id for s in await store.list_sessions()] == [a.id, b.id]
        assert set(await store.get_sessions([a.id, "zz"])) == {a.id}
        first = await store.create_command(a.id, "one")
        second = await store.create_command(a.id, "two")
        assert (first.position, second.position) == (1, 2)
        assert [c.id for c in await store.running_commands()] == [first.id, second.id]
    finally:
        await store.close()
