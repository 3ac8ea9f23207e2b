"""gateway.reload: streams ended by a reload, in-process subgraphs kept across one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from graphql import build_schema, parse

from gateway.config import SubgraphConfig, load_config
from gateway.events import StreamEvent
from gateway.reload import (
    SCHEMA_RELOADED,
    LiveStreams,
    SubgraphPool,
    config_files,
    same_subgraph,
)

OLD = build_schema("type Query { a: Int } type Subscription { tick: Int, tock: Int }")
NEW = build_schema("type Query { a: Int } type Subscription { tick: Int }")


def source(stop: asyncio.Event) -> AsyncIterator[StreamEvent]:
    async def events() -> AsyncIterator[StreamEvent]:
        n = 0
        while not stop.is_set():
            n += 1
            yield StreamEvent(None, {"data": {"n": n}})
            await asyncio.sleep(0.01)

    return events()


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


async def test_a_stream_whose_field_vanished_ends_with_schema_reloaded() -> None:
    live = LiveStreams()
    stop = asyncio.Event()
    kept = live.track(
        lambda: source(stop), parse("subscription { tick }"), frozenset({"a"})
    )
    gone = live.track(
        lambda: source(stop), parse("subscription { tock }"), frozenset({"a"})
    )
    kept_task = asyncio.create_task(collect(kept()))
    gone_task = asyncio.create_task(collect(gone()))
    for _ in range(500):
        if len(live) == 2:
            break
        await asyncio.sleep(0.01)
    assert live.invalidate({None: NEW}, lambda name: True) == 1
    events = await asyncio.wait_for(gone_task, 5)
    assert events[-1].payload["errors"][0]["extensions"]["code"] == SCHEMA_RELOADED
    assert all("data" in e.payload for e in events[:-1])
    assert not kept_task.done()
    stop.set()
    kept_events = await asyncio.wait_for(kept_task, 5)
    assert all("data" in e.payload for e in kept_events)
    assert len(live) == 0


async def test_a_stream_on_a_removed_subgraph_ends() -> None:
    live = LiveStreams()
    stop = asyncio.Event()
    stream = live.track(
        lambda: source(stop), parse("subscription { tick }"), frozenset({"b"})
    )
    task = asyncio.create_task(collect(stream()))
    for _ in range(500):
        if len(live):
            break
        await asyncio.sleep(0.01)
    assert live.invalidate({None: OLD}, lambda name: name != "b") == 1
    events = await asyncio.wait_for(task, 5)
    assert events[-1].payload["errors"][0]["extensions"]["code"] == SCHEMA_RELOADED


def test_an_entry_is_the_same_whatever_its_sdl_text_or_line() -> None:
    old = SubgraphConfig(
        name="a", routing_url="http://x/graphql", sdl="type Query { a: Int }", line=3
    )
    assert same_subgraph(
        old, SubgraphConfig(name="a", routing_url="http://x/graphql", line=9)
    )
    assert not same_subgraph(
        old, SubgraphConfig(name="a", routing_url="http://y/graphql")
    )


async def test_the_pool_keeps_unchanged_subgraphs_and_stops_removed_ones(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "clock.log"
    both = tmp_path / "both.yaml"
    both.write_text(
        "subgraphs:\n"
        "  - name: clock\n    module: tests.fixtures.clock:clock\n"
        f"    options: {{marker: '{marker}'}}\n"
        "  - name: products\n    module: tests.fixtures.shop:products\n"
    )
    one = tmp_path / "one.yaml"
    one.write_text(
        "subgraphs:\n  - name: products\n    module: tests.fixtures.shop:products\n"
    )
    pool = SubgraphPool()
    first = await pool.acquire(load_config(both))
    again = await pool.acquire(load_config(both))
    assert first["clock"] is again["clock"]
    assert marker.read_text().split() == ["started"]
    await pool.release_except(load_config(one))
    assert marker.read_text().split() == ["started", "stopped"]
    await pool.close()
    assert config_files(load_config(one)) == {one.resolve()}
