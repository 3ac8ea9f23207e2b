"""Prometheus metrics of one gateway: requests, subgraph fetches, streams, caches.

Every gateway (every ``create_app``) has its own ``CollectorRegistry``, so two
gateways in one process (tests) never share counts. Names follow the Prometheus
conventions (``_total`` counters, ``_seconds`` in base units); label values are
bounded: an operation name is one of the first ``max_operation_names`` names seen,
else ``__overflow__``; an anonymous operation is ``__unnamed__``.
See https://prometheus.io/docs/practices/naming/

Per-request figures the access log needs (how many subgraph fetches, which error
codes) are gathered in a ``RequestStats`` that ``track_request`` makes current for
the request's task (a context variable, so tasks the executor starts share it).
"""

from __future__ import annotations

import contextvars
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from gateway.errors import SubgraphError
from gateway.transports.base import SubgraphRequest, SubgraphResult, Transport

__all__ = [
    "CONTENT_TYPE",
    "OVERFLOW",
    "UNNAMED",
    "CacheSource",
    "GatewayMetrics",
    "MeteredTransport",
    "RequestStats",
    "current_stats",
    "track_request",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNNAMED = "__unnamed__"
OVERFLOW = "__overflow__"

_DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@dataclass(slots=True)
class RequestStats:
    """What one client request caused: subgraph fetches and error codes."""

    request_id: str | None = None
    fetches: int = 0
    error_codes: list[str] = field(default_factory=list)
    operation_type: str | None = None
    operation_name: str | None = None
    stream: str | None = None
    """The stream protocol (``sse``...) when the answer is a stream."""

    def add_errors(self, errors: Iterable[Any]) -> None:
        """Record the ``extensions.code`` of each GraphQL error (once each code)."""
        for error in errors:
            if not isinstance(error, dict):
                continue
            extensions = error.get("extensions")
            code = extensions.get("code") if isinstance(extensions, dict) else None
            code = code if isinstance(code, str) and code else "UNKNOWN"
            if code not in self.error_codes:
                self.error_codes.append(code)


_STATS: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "gateway_request_stats", default=None
)


def current_stats() -> RequestStats | None:
    """The stats of the request this task serves, if any."""
    return _STATS.get()


class track_request:
    """Make ``stats`` the current request's stats inside the block."""

    __slots__ = ("_stats", "_token")

    def __init__(self, stats: RequestStats) -> None:
        self._stats = stats

    def __enter__(self) -> RequestStats:
        self._token = _STATS.set(self._stats)
        return self._stats

    def __exit__(self, *_: object) -> None:
        _STATS.reset(self._token)


CacheSource = Callable[[], Iterable[tuple[str, Any]]]
"""Yields (cache name, cache) pairs; a cache has ``hits``, ``misses``, ``len()``
and, when it counts them, ``bytes``."""


class _CacheCollector(Collector):
    """Reads the engine's caches at scrape time (they count hits and misses)."""

    def __init__(self, source: Callable[[], CacheSource | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily(
            "gateway_cache_hits", "Cache lookups that found an entry.", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "gateway_cache_misses",
            "Cache lookups that found nothing.",
            labels=["cache"],
        )
        entries = GaugeMetricFamily(
            "gateway_cache_entries", "Entries held by a cache.", labels=["cache"]
        )
        size = GaugeMetricFamily(
            "gateway_cache_bytes",
            "Estimated bytes held by a cache.",
            labels=["cache"],
        )
        source = self._source()
        for name, cache in source() if source is not None else ():
            hits.add_metric([name], float(getattr(cache, "hits", 0)))
            misses.add_metric([name], float(getattr(cache, "misses", 0)))
            entries.add_metric([name], float(len(cache)))
            size.add_metric([name], float(getattr(cache, "bytes", 0)))
        yield hits
        yield misses
        yield entries
        yield size


class _Counts(Collector):
    """A labelled counter the event loop increments without prometheus_client's
    per-increment lock (a dict of floats), exposed at scrape time as a counter
    family with the same samples (``_total``, ``_created``). Only the loop's
    thread counts; a scrape reads a snapshot."""

    def __init__(self, name: str, documentation: str, labels: list[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.values: dict[tuple[str, ...], list[float]] = {}
        """Labels -> [count, created]."""

    def child(self, *labels: str) -> list[float]:
        """The series of ``labels``: add to ``[0]``."""
        series = self.values.get(labels)
        if series is None:
            series = self.values[labels] = [0.0, time.time()]
        return series

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, (value, created) in list(self.values.items()):
            family.add_metric(list(labels), value, created=created)
        yield family


class _Timings(Collector):
    """A labelled histogram without prometheus_client's per-observation lock (see
    ``_Counts``): per series, a count per bucket and the sum (no ``_created``
    series: it is optional, and Prometheus does not read it)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        buckets: tuple[float, ...],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.bounds = tuple(sorted(b for b in buckets if b != float("inf")))
        self._le = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        self.values: dict[tuple[str, ...], list[float]] = {}
        """Labels -> [count per bucket (the last: above every bound), sum]."""

    def child(self, *labels: str) -> _Observer:
        series = self.values.get(labels)
        if series is None:
            series = self.values[labels] = [0.0] * (len(self.bounds) + 2)
        return _Observer(self.bounds, series)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            self.name, self.documentation, labels=self.labels
        )
        for labels, series in list(self.values.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(self._le, series[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, series[-1])
        yield family


class _Observer:
    """One series of a ``_Timings``."""

    __slots__ = ("_bounds", "_series")

    def __init__(self, bounds: tuple[float, ...], series: list[float]) -> None:
        self._bounds = bounds
        self._series = series

    def observe(self, seconds: float) -> None:
        series = self._series
        series[bisect_left(self._bounds, seconds)] += 1
        series[-1] += seconds


class GatewayMetrics:
    """The gateway's metrics, on a registry of its own."""

    def __init__(self, *, max_operation_names: int = 100) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_operation_names = max_operation_names
        self._names: set[str] = set()
        self._request_children: dict[
            tuple[str, str, str], tuple[list[float], _Observer]
        ] = {}
        self._caches: CacheSource | None = None
        self._collectors: set[int] = set()
        self.last_fetch: dict[str, tuple[str, float]] = {}
        """Subgraph -> the outcome of its last fetch and when (epoch seconds)."""
        registry = self.registry
        # What every request and fetch updates: lock-free (``_Counts``).
        self.requests = _Counts(
            "gateway_requests",
            "GraphQL requests answered, by operation type, name and outcome.",
            ["operation_type", "operation_name", "outcome"],
        )
        self.request_duration = _Timings(
            "gateway_request_duration_seconds",
            "Time from a GraphQL request's arrival to its answer (a stream: its end).",
            ["operation_type", "outcome"],
            _DURATION_BUCKETS,
        )
        self.fetches = _Counts(
            "gateway_subgraph_fetches",
            "Queries and mutations sent to a subgraph, by outcome.",
            ["subgraph", "outcome"],
        )
        self.fetch_duration = _Timings(
            "gateway_subgraph_fetch_duration_seconds",
            "Time a subgraph took to answer a fetch.",
            ["subgraph"],
            _DURATION_BUCKETS,
        )
        for collector in (
            self.requests,
            self.request_duration,
            self.fetches,
            self.fetch_duration,
        ):
            registry.register(collector)
        self.open_streams = Gauge(
            "gateway_open_streams",
            "Client streams open now, by protocol.",
            ["protocol"],
            registry=registry,
        )
        self.upstream_subscriptions = Gauge(
            "gateway_upstream_subscriptions",
            "Subscriptions open to a subgraph now.",
            ["subgraph"],
            registry=registry,
        )
        self.upstream_events = Counter(
            "gateway_upstream_subscription_events",
            "Events received from subgraph subscriptions.",
            ["subgraph"],
            registry=registry,
        )
        registry.register(_CacheCollector(lambda: self._caches))

    def watch_caches(self, source: CacheSource | None) -> None:
        """Where the cache figures come from (the current engine's caches)."""
        self._caches = source

    def register(self, collector: Collector) -> None:
        """Add a collector of a subgraph (its own figures, read at scrape time);
        once, however often a reload hands it again."""
        if id(collector) in self._collectors:
            return
        self._collectors.add(id(collector))
        self.registry.register(collector)

    def operation_label(self, name: str | None) -> str:
        """``name`` when it is one of the first ``max_operation_names`` seen."""
        if not name:
            return UNNAMED
        if name in self._names:
            return name
        if len(self._names) >= self.max_operation_names:
            return OVERFLOW
        self._names.add(name)
        return name

    def observe_request(
        self, kind: str, name: str | None, outcome: str, seconds: float
    ) -> None:
        key = (kind, self.operation_label(name), outcome)
        children = self._request_children.get(key)
        if children is None:
            # The label space is bounded (``operation_label``), so is this.
            children = self._request_children[key] = (
                self.requests.child(*key),
                self.request_duration.child(kind, outcome),
            )
        children[0][0] += 1
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        """The text format a Prometheus server scrapes."""
        return generate_latest(self.registry)

    def metered(self, transport: Transport) -> MeteredTransport:
        return MeteredTransport(transport, self)


class MeteredTransport:
    """A transport that counts and times what it sends (``Transport`` protocol)."""

    def __init__(self, inner: Transport, metrics: GatewayMetrics) -> None:
        self.inner = inner
        self.name = inner.name
        self.sees_client_headers = inner.sees_client_headers
        self._metrics = metrics
        self._counters: dict[str, list[float]] = {}
        """The fetch counter's child per outcome, made on first use."""
        self._duration: _Observer | None = None

    def __getattr__(self, name: str) -> Any:
        # Anything else a caller asks of the transport (close(), a pool) is the
        # inner one's.
        return getattr(self.inner, name)

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        metrics = self._metrics
        stats = _STATS.get()
        if stats is not None:
            stats.fetches += 1
        started = time.perf_counter()
        outcome = "failure"
        try:
            result = await self.inner.fetch(request)
            outcome = "error" if result.get("errors") else "success"
            return result
        except SubgraphError:
            raise
        finally:
            metrics.last_fetch[self.name] = (outcome, time.time())
            counter = self._counters.get(outcome)
            if counter is None:
                counter = self._counters[outcome] = metrics.fetches.child(
                    self.name, outcome
                )
            counter[0] += 1
            if self._duration is None:
                self._duration = metrics.fetch_duration.child(self.name)
            self._duration.observe(time.perf_counter() - started)

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        return self._subscribe(request)

    async def _subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        metrics = self._metrics
        gauge = metrics.upstream_subscriptions.labels(self.name)
        events = metrics.upstream_events.labels(self.name)
        stats = _STATS.get()
        if stats is not None:
            stats.fetches += 1
        gauge.inc()
        source = self.inner.subscribe(request)
        try:
            async for result in source:
                events.inc()
                yield result
        finally:
            gauge.dec()
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
