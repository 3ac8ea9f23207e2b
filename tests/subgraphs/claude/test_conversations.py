"""Live deltas, graceful interrupt, fork, import and usage, through the real SDK
path against fake-claude."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.errors import (
    BadInputError,
    ClaudeSessionNotFoundError,
    ForbiddenPathError,
)
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.store import OutputEvent

STORY_WORDS = 41


async def until(
    stream: AsyncIterator[OutputEvent], kind: str, seen: list[OutputEvent]
) -> OutputEvent:
    async for event in stream:
        seen.append(event)
        if event.kind == kind:
            return event
    raise AssertionError(f"the stream ended before {kind}")


async def test_deltas_arrive_in_order_and_the_stored_text_is_their_concatenation(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    live = service.output(session.id, deltas=True)
    plain = service.output(session.id)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "tell a story")
    await until(live, "COMMAND_FINISHED", seen)
    deltas = [e for e in seen if e.kind == "TEXT_DELTA"]
    [text] = [e for e in seen if e.kind == "TEXT"]
    assert text.text is not None
    assert len(deltas) == len(text.text.split()) > 10
    assert "".join(d.text or "" for d in deltas) == text.text
    assert [d.data["index"] for d in deltas] == [0] * len(deltas)
    # Each delta carries the seq of the stored event before it; never stored.
    assert all(d.seq == deltas[0].seq for d in deltas) and text.seq == deltas[0].seq + 1
    stored = [e async for e in _replay(service, session.id)]
    assert "TEXT_DELTA" not in [e.kind for e in stored]
    # Without deltas, a subscriber sees whole messages only.
    plain_seen: list[OutputEvent] = []
    await until(plain, "COMMAND_FINISHED", plain_seen)
    assert [e.seq for e in plain_seen] == [e.seq for e in stored]
    await live.aclose()
    await plain.aclose()


async def _replay(
    service: ClaudeService, session_id: str
) -> AsyncIterator[OutputEvent]:
    for event in await service.store.events_after(session_id, 0, 10_000):
        yield event


async def test_interrupt_mid_stream_keeps_the_partial_text(
    config: ClaudeConfig, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_DELAY", "0.05")
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        live = service.output(session.id, deltas=True)
        seen: list[OutputEvent] = []
        await service.start_command(session.id, "tell a story")
        for _ in range(3):
            await until(live, "TEXT_DELTA", seen)
        stopped = await service.interrupt_command(session.id)
        assert stopped.status == "INTERRUPTED"
        await until(live, "COMMAND_FINISHED", seen)
        streamed = "".join(e.text or "" for e in seen if e.kind == "TEXT_DELTA")
        [partial] = [e for e in seen if e.kind == "TEXT"]
        assert partial.data == {"partial": True}
        assert partial.text == streamed
        assert 3 <= len(streamed.split()) < STORY_WORDS
        # The CLI ended its turn itself (the interrupt control request): no signal.
        kinds = [e.kind for e in seen if not e.kind.endswith("_DELTA")]
        assert kinds[-4:] == ["TEXT", "RESULT", "ERROR", "COMMAND_FINISHED"]
        await live.aclose()


async def test_a_cli_that_ignores_the_interrupt_is_signalled_after_the_grace(
    config: ClaudeConfig, workdir: Path
) -> None:
    config = dataclasses.replace(config, interrupt_grace=0.3, kill_grace=0.3)
    async with ClaudeService(config).lifespan() as service:
        session = await service.create_session(str(workdir))
        live = service.output(session.id)
        seen: list[OutputEvent] = []
        await service.start_command(session.id, "freeze")
        await until(live, "TEXT", seen)
        stopped = await service.interrupt_command(session.id)
        assert stopped.status == "INTERRUPTED"
        await until(live, "COMMAND_FINISHED", seen)
        assert "RESULT" not in [e.kind for e in seen]
        await live.aclose()


async def test_fork_then_diverge(service: ClaudeService, workdir: Path) -> None:
    parent = await service.create_session(str(workdir))
    await service.execute_command(parent.id, "What is 3+3?")
    marker = await service.last_seq(parent.id)
    await service.execute_command(parent.id, "What is 10*10?")

    whole = await service.fork_session(parent.id)
    early = await service.fork_session(parent.id, at_seq=marker)
    assert (
        len(
            {parent.claude_session_id, whole.claude_session_id, early.claude_session_id}
        )
        == 3
    )
    assert whole.origin == "FORKED" and whole.forked_from == parent.claude_session_id
    assert await service.last_seq(whole.id) == await service.last_seq(parent.id)
    assert await service.last_seq(early.id) == marker

    answer = await service.execute_command(
        whole.id, "What was the previous calculation?"
    )
    assert answer.result == "The previous calculation was 10*10, which equals 100."
    answer = await service.execute_command(
        early.id, "What was the previous calculation?"
    )
    assert answer.result == "The previous calculation was 3+3, which equals 6."
    # Diverged: the parent knows nothing of either fork's turns.
    await service.execute_command(early.id, "What is 7-2?")
    answer = await service.execute_command(
        parent.id, "What was the previous calculation?"
    )
    assert answer.result == "The previous calculation was 10*10, which equals 100."
    answer = await service.execute_command(
        early.id, "What was the previous calculation?"
    )
    assert answer.result == "The previous calculation was 7-2, which equals 5."

    with pytest.raises(BadInputError):
        await service.fork_session(parent.id, at_seq=10_000)
    fresh = await service.create_session(str(workdir))
    with pytest.raises(BadInputError):
        await service.fork_session(fresh.id)


def _transcripts(config_dir: Path, claude_uuid: str) -> int:
    """How many transcripts of that UUID the CLI keeps under projects/."""
    return len(list(config_dir.glob(f"projects/*/{claude_uuid}.jsonl")))


async def test_import_a_session_the_cli_wrote_and_continue_it(
    service: ClaudeService, workdir: Path, fake_state: Path
) -> None:
    # A conversation begun outside the gateway: the CLI writes its transcript.
    outside = await service.create_session(str(workdir))
    await service.execute_command(outside.id, "What is 6*7?")
    claude_uuid = outside.claude_session_id
    await service.store._db.execute(
        "DELETE FROM events WHERE session_id = ?", (outside.id,)
    )
    await service.store._db.execute(
        "DELETE FROM commands WHERE session_id = ?", (outside.id,)
    )
    await service.store._db.execute("DELETE FROM sessions WHERE id = ?", (outside.id,))
    await service.store._db.commit()
    assert _transcripts(fake_state, claude_uuid) == 1

    [listed] = [
        s
        for s, ours in await service.claude_code_sessions(str(workdir))
        if s.session_id == claude_uuid and ours is None
    ]
    assert listed.title == "What is 6*7?"
    assert listed.working_directory == str(workdir)

    imported = await service.import_session(claude_uuid)
    assert imported.origin == "IMPORTED" and imported.claude_started
    history = await service.store.events_after(imported.id, 0, 100)
    assert [(e.kind, e.text) for e in history] == [
        ("PROMPT", "What is 6*7?"),
        ("TEXT", "42"),
    ]
    again = await service.import_session(claude_uuid.upper())
    assert again.id == imported.id
    [(_, ours)] = [
        (s, o)
        for s, o in await service.claude_code_sessions(str(workdir))
        if s.session_id == claude_uuid
    ]
    assert ours == imported.id
    answer = await service.execute_command(
        imported.id, "What was the previous calculation?"
    )
    assert answer.result == "The previous calculation was 6*7, which equals 42."

    with pytest.raises(ClaudeSessionNotFoundError):
        await service.import_session(str(uuid.uuid4()))
    with pytest.raises(BadInputError):
        await service.import_session("not-a-uuid")
    with pytest.raises(ForbiddenPathError):
        await service.claude_code_sessions("/etc")


async def test_a_session_file_outside_the_roots_cannot_be_imported(
    service: ClaudeService, fake_state: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    claude_uuid = str(uuid.uuid4())
    project = fake_state / "projects" / str(elsewhere).replace("/", "-")
    project.mkdir(parents=True)
    entry = {
        "type": "user",
        "uuid": str(uuid.uuid4()),
        "parentUuid": None,
        "sessionId": claude_uuid,
        "cwd": str(elsewhere),
        "timestamp": "2026-01-01T00:00:00.000Z",
        "message": {"role": "user", "content": "hello"},
    }
    (project / f"{claude_uuid}.jsonl").write_text(json.dumps(entry) + "\n")
    with pytest.raises(ForbiddenPathError):
        await service.import_session(claude_uuid)


async def test_usage_per_command_and_per_session(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    first = await service.execute_command(session.id, "What is 3+3?")
    second = await service.execute_command(session.id, "What is 4+4?")
    assert (first.input_tokens, first.output_tokens, first.num_turns) == (10, 5, 1)
    assert first.cost_usd is not None and second.cost_usd is not None
    total = await service.session_usage(session.id)
    assert (total.input_tokens, total.output_tokens, total.num_turns) == (20, 10, 2)
    assert total.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)


async def test_thinking_streams_as_thinking_deltas_then_a_whole_thinking_event(
    service: ClaudeService, workdir: Path
) -> None:
    session = await service.create_session(str(workdir))
    live = service.output(session.id, deltas=True)
    seen: list[OutputEvent] = []
    await service.start_command(session.id, "Think: what is 2+5?")
    await until(live, "COMMAND_FINISHED", seen)
    thinking = [e for e in seen if e.kind == "THINKING_DELTA"]
    text = [e for e in seen if e.kind == "TEXT_DELTA"]
    [whole_thought] = [e for e in seen if e.kind == "THINKING"]
    [whole_text] = [e for e in seen if e.kind == "TEXT"]
    assert "".join(e.text or "" for e in thinking) == whole_thought.text
    assert "".join(e.text or "" for e in text) == whole_text.text == "7"
    assert {e.data["index"] for e in thinking} == {0}
    assert {e.data["index"] for e in text} == {1}
    kinds = [e.kind for e in seen]
    assert kinds.index("THINKING_DELTA") < kinds.index("TEXT_DELTA")
    assert max(i for i, k in enumerate(kinds) if k.endswith("_DELTA")) < kinds.index(
        "THINKING"
    )
    await live.aclose()


async def test_deltas_only_reach_subscribers_that_asked_for_them() -> None:
    from subgraphs.claude.fanout import EventFanout

    fanout = EventFanout(maxsize=2)
    plain = fanout.subscribe("s")
    live = fanout.subscribe("s", deltas=True)

    def event(seq: int, kind: str) -> OutputEvent:
        return OutputEvent("s", seq, None, kind, "x", None, "t")

    for _ in range(5):  # more deltas than a buffer holds
        fanout.publish(event(1, "TEXT_DELTA"))
    fanout.publish(event(2, "TEXT"))
    assert not plain.lagged and live.lagged
    assert [e.kind for e in await plain.wait()] == ["TEXT"]
