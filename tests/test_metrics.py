"""GatewayMetrics and MeteredTransport: bounded labels, fetch outcomes, per-request stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.caching import LRU
from gateway.errors import SubgraphError
from gateway.metrics import (
    _DURATION_BUCKETS,
    OVERFLOW,
    UNNAMED,
    GatewayMetrics,
    RequestStats,
    current_stats,
    track_request,
)
from gateway.transports.base import SubgraphRequest, SubgraphResult


def samples(
    metrics: GatewayMetrics,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class FakeTransport:
    name = "inventory"
    sees_client_headers = False

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.closed = False

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        if self.outcome == "failure":
            raise SubgraphError("down", service=self.name)
        if self.outcome == "error":
            return {"data": None, "errors": [{"message": "no"}]}
        return {"data": {"ok": True}}

    async def _events(self) -> AsyncIterator[SubgraphResult]:
        try:
            for n in range(3):
                yield {"data": {"n": n}}
        finally:
            self.closed = True

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        return self._events()


def test_operation_names_are_bounded_with_unnamed_and_overflow_buckets() -> None:
    metrics = GatewayMetrics(max_operation_names=2)
    assert metrics.operation_label(None) == UNNAMED
    assert metrics.operation_label("") == UNNAMED
    assert metrics.operation_label("A") == "A"
    assert metrics.operation_label("B") == "B"
    assert metrics.operation_label("C") == OVERFLOW
    assert metrics.operation_label("A") == "A"


@pytest.mark.parametrize("outcome", ["success", "error", "failure"])
async def test_fetches_are_counted_by_subgraph_and_outcome(outcome: str) -> None:
    metrics = GatewayMetrics()
    transport = metrics.metered(FakeTransport(outcome))
    stats = RequestStats(request_id="r1")
    with track_request(stats):
        try:
            await transport.fetch(SubgraphRequest(query="{ ok }"))
        except SubgraphError:
            assert outcome == "failure"
    found = samples(metrics)
    key = (("outcome", outcome), ("subgraph", "inventory"))
    assert found[("gateway_subgraph_fetches_total", key)] == 1
    assert (
        found[
            (
                "gateway_subgraph_fetch_duration_seconds_count",
                (("subgraph", "inventory"),),
            )
        ]
        == 1
    )
    assert stats.fetches == 1


async def test_an_upstream_subscription_is_gauged_while_open() -> None:
    metrics = GatewayMetrics()
    inner = FakeTransport("success")
    events = metrics.metered(inner).subscribe(SubgraphRequest(query="subscription"))
    gauge = ("gateway_upstream_subscriptions", (("subgraph", "inventory"),))
    first = await events.__anext__()
    assert first == {"data": {"n": 0}}
    assert samples(metrics)[gauge] == 1
    await events.aclose()  # type: ignore[attr-defined]
    assert samples(metrics)[gauge] == 0
    assert inner.closed
    assert (
        samples(metrics)[
            ("gateway_upstream_subscription_events_total", (("subgraph", "inventory"),))
        ]
        == 1
    )


async def test_stats_follow_the_request_into_tasks_it_starts() -> None:
    stats = RequestStats(request_id="r2")

    async def child() -> str | None:
        found = current_stats()
        assert found is not None
        found.fetches += 1
        return found.request_id

    with track_request(stats):
        ids = await asyncio.gather(child(), child())
    assert ids == ["r2", "r2"]
    assert stats.fetches == 2
    assert current_stats() is None


def test_caches_are_read_at_scrape_time() -> None:
    metrics = GatewayMetrics()
    cache: LRU[str, Any] = LRU(4)
    cache.put("a", 1)
    cache.get("a")
    cache.get("b")
    metrics.watch_caches(lambda: [("documents", cache)])
    found = samples(metrics)
    label = (("cache", "documents"),)
    assert found[("gateway_cache_hits_total", label)] == 1
    assert found[("gateway_cache_misses_total", label)] == 1
    assert found[("gateway_cache_entries", label)] == 1
    metrics.watch_caches(None)
    assert ("gateway_cache_entries", label) not in samples(metrics)


def test_error_codes_are_recorded_once_each() -> None:
    stats = RequestStats()
    stats.add_errors(
        [
            {"message": "a", "extensions": {"code": "X"}},
            {"message": "b", "extensions": {"code": "X"}},
            {"message": "c"},
        ]
    )
    assert stats.error_codes == ["X", "UNKNOWN"]


def test_request_counts_and_timings_expose_what_prometheus_client_would() -> None:
    """The lock-free request counter and histogram give the samples a
    prometheus_client ``Counter`` and ``Histogram`` give for the same observations
    (bucket edges included: a value equal to a bound is counted in it)."""
    registry = CollectorRegistry()
    counter = Counter(
        "gateway_requests",
        "x",
        ["operation_type", "operation_name", "outcome"],
        registry=registry,
    )
    histogram = Histogram(
        "gateway_request_duration_seconds",
        "x",
        ["operation_type", "outcome"],
        buckets=_DURATION_BUCKETS,
        registry=registry,
    )
    metrics = GatewayMetrics()
    seen = [0.0, 0.001, 0.0010001, 0.004, 0.25, 0.7, 30.0, 31.0, 1e-9]
    for index, seconds in enumerate(seen):
        outcome = "success" if index % 3 else "error"
        metrics.observe_request("query", "Q", outcome, seconds)
        counter.labels("query", "Q", outcome).inc()
        histogram.labels("query", outcome).observe(seconds)

    def relevant(
        found: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            key: value
            for key, value in found.items()
            if key[0].startswith("gateway_request") and not key[0].endswith("_created")
        }

    theirs = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert relevant(samples(metrics)) == relevant(theirs)
    assert len(relevant(theirs)) == 2 * (1 + len(_DURATION_BUCKETS) + 1 + 2)
