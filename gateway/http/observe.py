"""What the edge records of each request: request id, metrics, the access log line.

``observe_middleware`` wraps every request: it takes the request id from
``X-Request-Id`` (or makes one), makes a ``RequestStats`` current for the request's
task (subgraph fetches and error codes are counted into it), and when the handler
returns (for a stream: when the stream ends) it counts the request in the
metrics and logs one access line. The GraphQL handler names the operation with
``note_operation``. ``/metrics`` is served on a listener of its own
(``metrics_listener``) or, when that is the main address, on the main app.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway import tracing
from gateway.config import Config
from gateway.events import StreamEvent
from gateway.logs import ACCESS_LOGGER, note_errors
from gateway.masking import new_request_id
from gateway.metrics import (
    CONTENT_TYPE,
    GatewayMetrics,
    RequestStats,
    current_stats,
    track_request,
)
from gateway.reload import ReloadStatus

__all__ = [
    "METRICS",
    "REQUEST_ID_HEADER",
    "install_observability",
    "log_access",
    "metrics_handler",
    "note_operation",
    "observed_events",
    "outcome",
    "reload_health",
    "request_id_of",
    "subgraph_health",
]

logger = logging.getLogger("gateway.http.observe")
access_logger = logging.getLogger(ACCESS_LOGGER)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

METRICS = web.AppKey("metrics", GatewayMetrics)


def note_operation(kind: str, name: str | None) -> None:
    """Name the GraphQL operation the current request runs (metrics, the log)."""
    stats = current_stats()
    if stats is not None:
        stats.operation_type = kind
        stats.operation_name = name


def request_id_of(headers: Mapping[str, str]) -> str:
    """The client's ``X-Request-Id`` when it is a sane one, else a new id."""
    given = headers.get(REQUEST_ID_HEADER, "").strip()
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return new_request_id()


def outcome(status: int, stats: RequestStats) -> str:
    """The metrics' outcome label of a finished request."""
    if status >= 500:
        return "failure"
    if status >= 400:
        return "rejected"
    if stats.error_codes:
        return "error"
    return "success"


def _middleware(
    metrics: GatewayMetrics, graphql_path: str, access_log: bool
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        stats = RequestStats(request_id=request_id_of(request.headers))
        started = time.perf_counter()
        status = 500
        try:
            with track_request(stats):
                if tracing.tracing() is None:
                    response = await handler(request)
                else:
                    response = await _traced(request, handler, stats)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = stats.request_id or ""
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = stats.request_id or ""
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's code for it)
            raise
        finally:
            seconds = time.perf_counter() - started
            if stats.operation_type is not None or request.path == graphql_path:
                metrics.observe_request(
                    stats.operation_type or "unknown",
                    stats.operation_name,
                    outcome(status, stats),
                    seconds,
                )
            if access_log and access_logger.isEnabledFor(logging.INFO):
                log_access(
                    request.method, request.path, request.remote, stats, status, seconds
                )

    return observe


async def _traced(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    stats: RequestStats,
) -> web.StreamResponse:
    with tracing.server_span(
        f"{request.method} {request.path}",
        request.headers,
        {"http.request.method": request.method, "url.path": request.path},
    ) as span:
        try:
            response = await handler(request)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
            return response
        finally:
            if span is not None:
                _close_span(span, stats)


def _close_span(span: Any, stats: RequestStats) -> None:
    span.set_attribute("gateway.request_id", stats.request_id or "")
    span.set_attribute("gateway.subgraph_fetches", stats.fetches)
    if stats.operation_type is not None:
        span.set_attribute("graphql.operation.type", stats.operation_type)
    if stats.operation_name:
        span.set_attribute("graphql.operation.name", stats.operation_name)
    if stats.error_codes:
        span.set_attribute("graphql.error.codes", list(stats.error_codes))


def log_access(
    method: str,
    path: str,
    remote: str | None,
    stats: RequestStats,
    status: int,
    seconds: float,
) -> None:
    """The access log line of one finished request."""
    fields: dict[str, object] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "operation_type": stats.operation_type,
        "operation_name": stats.operation_name,
        "client": remote,
        "request_id": stats.request_id,
        "subgraph_fetches": stats.fetches,
        "error_codes": list(stats.error_codes),
    }
    if stats.stream is not None:
        fields["stream"] = stats.stream
    operation = (
        f"{stats.operation_type} {stats.operation_name or '-'}"
        if stats.operation_type
        else "- -"
    )
    access_logger.info(
        '%s "%s %s" %d %.1fms %s%s fetches=%d errors=%s request_id=%s',
        remote or "-",
        method,
        path,
        status,
        seconds * 1000,
        operation,
        f" stream={stats.stream}" if stats.stream else "",
        stats.fetches,
        ",".join(stats.error_codes) or "-",
        stats.request_id,
        extra={"access": fields, "request_id": stats.request_id},
    )


def subgraph_health(config: Config, metrics: GatewayMetrics) -> list[dict[str, object]]:
    """Each subgraph: where it runs and the outcome of its last fetch."""
    subgraphs: list[dict[str, object]] = []
    for subgraph in config.subgraphs:
        last = metrics.last_fetch.get(subgraph.name)
        subgraphs.append(
            {
                "name": subgraph.name,
                "kind": "in-process" if subgraph.is_local else "remote",
                "url": subgraph.routing_url,
                "last_fetch": None
                if last is None
                else {"outcome": last[0], "at": _iso(last[1])},
            }
        )
    return subgraphs


def reload_health(status: ReloadStatus) -> dict[str, object]:
    """Reloads: the generation serving, when it came, the last failure's errors."""
    return {
        "generation": status.generation,
        "last_reload_at": None
        if status.last_reload_at is None
        else _iso(status.last_reload_at),
        "errors": list(status.last_error),
        "failed_at": None
        if status.last_error_at is None
        else _iso(status.last_error_at),
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


async def metrics_handler(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _same_address(config: Config) -> bool:
    metrics = config.gateway.telemetry.metrics
    return (metrics.host, metrics.port) == (config.gateway.host, config.gateway.port)


def _metrics_listener(
    config: Config, metrics: GatewayMetrics
) -> Callable[[web.Application], AsyncIterator[None]]:
    settings = config.gateway.telemetry.metrics

    async def listener(app: web.Application) -> AsyncIterator[None]:
        side = web.Application()
        side[METRICS] = metrics
        side.router.add_get(settings.path, metrics_handler)
        runner = web.AppRunner(side, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            try:
                await site.start()
            except OSError as exc:
                # Another gateway (or a Prometheus exporter) holds the address: the
                # gateway serves without its metrics rather than not at all.
                logger.warning(
                    "metrics not served: cannot listen on %s: %s "
                    "(set gateway.telemetry.metrics.prometheus.listen_addr)",
                    settings.listen_addr,
                    exc.strerror or exc,
                )
            else:
                logger.info(
                    "metrics on http://%s%s", settings.listen_addr, settings.path
                )
            yield
        finally:
            await runner.cleanup()

    return listener


def install_observability(app: web.Application, config: Config) -> GatewayMetrics:
    """Wire the request id, metrics and access log into ``app``; serve /metrics."""
    settings = config.gateway.telemetry.metrics
    metrics = GatewayMetrics(max_operation_names=settings.max_operation_names)
    app[METRICS] = metrics
    app.middlewares.append(
        _middleware(metrics, config.gateway.graphql_path, config.gateway.access_log)
    )
    if settings.enabled:
        if _same_address(config):
            app.router.add_get(settings.path, metrics_handler)
        else:
            app.cleanup_ctx.append(_metrics_listener(config, metrics))
    return metrics


def observed_events(
    request: web.Request,
    events: Callable[[], AsyncIterator[StreamEvent]],
    protocol: str,
) -> Callable[[], AsyncIterator[StreamEvent]]:
    """``events`` counted as an open stream of ``protocol``, each event's errors
    noted (codes in the access log, the request id in each error)."""
    metrics = request.app.get(METRICS)

    async def observed() -> AsyncIterator[StreamEvent]:
        stats = current_stats()
        if stats is not None:
            stats.stream = protocol
        gauge = metrics.open_streams.labels(protocol) if metrics is not None else None
        if gauge is not None:
            gauge.inc()
        source = events()
        try:
            async for event in source:
                tracing.event(
                    "subscription event", **{"graphql.event.id": event.id or ""}
                )
                payload = note_errors(event.payload)
                yield (
                    event
                    if payload is event.payload
                    else StreamEvent(event.id, payload)
                )
        finally:
            if gauge is not None:
                gauge.dec()
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()

    return observed
