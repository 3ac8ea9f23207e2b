"""Tracing with an in-process span exporter: the span tree of a query and of a
subscription's events; nothing traced when tracing is off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import tracing
from gateway.config import load_config
from gateway.http.app import create_app


@pytest.fixture
async def exporter() -> AsyncIterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    tracing.configure(None, span_exporter=memory)
    yield memory
    tracing.configure(None)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "subgraphs:\n"
        "  - name: products\n    module: tests.fixtures.shop:products\n"
        "  - name: reviews\n    module: tests.fixtures.shop:reviews\n"
        "  - name: ticker\n    module: tests.fixtures.ticker:ticker\n"
        "gateway:\n  telemetry: {metrics: {prometheus: {enabled: false}}}\n"
    )
    return await aiohttp_client(create_app(load_config(config)))


async def test_a_join_is_a_request_span_with_prepare_plan_and_two_fetches(
    exporter: InMemorySpanExporter, client: Any
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ topProducts(first: 1) { name reviews { body } } }"},
    )
    assert response.status == 200
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.name == "POST /graphql"]
    children = sorted(
        s.name for s in spans if s.parent and s.parent.span_id == root.context.span_id
    )
    assert children == ["fetch products", "fetch reviews", "plan", "prepare"]
    assert root.attributes is not None
    assert root.attributes["gateway.subgraph_fetches"] == 2


async def test_each_subscription_event_is_a_span_of_the_stream(
    exporter: InMemorySpanExporter, client: Any
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "subscription { count(to: 3) }"},
        headers={"Accept": "text/event-stream"},
    )
    assert b"event: complete" in await response.read()
    # The request span ends when the handler returns, just after the stream's last
    # byte left: wait for it (a bounded number of loop turns, not a time).
    for _ in range(1000):
        spans = exporter.get_finished_spans()
        if any(s.name == "POST /graphql" for s in spans):
            break
        await asyncio.sleep(0)
    (root,) = [s for s in spans if s.name == "POST /graphql"]
    events = [s for s in spans if s.name == "subscription event"]
    assert len(events) == 3
    assert all(e.parent and e.parent.span_id == root.context.span_id for e in events)
    assert any(s.name == "subscribe ticker" for s in spans)


async def test_nothing_is_traced_when_tracing_is_off(client: Any) -> None:
    assert tracing.tracing() is None
    response = await client.post("/graphql", json={"query": "{ topProducts { upc } }"})
    assert response.status == 200
