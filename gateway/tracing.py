"""OpenTelemetry tracing (the optional ``tracing`` extra): spans, W3C propagation.

Off unless ``gateway.telemetry.tracing.exporter`` names an exporter; then every
request is a server span (an incoming ``traceparent`` is honoured), with children
for prepare, plan (``graphql.plan.cache``: hit or miss), each subgraph fetch (a
client span whose ``traceparent`` goes to the subgraph) and each subscription event.
When off, ``span`` is a no-op and nothing of OpenTelemetry is imported.
See https://www.w3.org/TR/trace-context/ and
https://opentelemetry.io/docs/specs/otel/trace/semantic_conventions/
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from gateway.errors import ConfigError, SubgraphError
from gateway.transports.base import SubgraphRequest, SubgraphResult, Transport

__all__ = [
    "TracedTransport",
    "Tracing",
    "configure",
    "event",
    "server_span",
    "span",
    "tracing",
]

logger = logging.getLogger("gateway.tracing")

_current: Tracing | None = None


class Tracing:
    """A tracer provider and its exporter (``shutdown`` flushes what is pending)."""

    def __init__(self, exporter: Any, service_name: str, *, batch: bool = True) -> None:
        from opentelemetry.propagate import get_global_textmap
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )

        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service_name})
        )
        processor = (
            BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        )
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("gateway")
        self.propagator = get_global_textmap()

    def shutdown(self) -> None:
        self.provider.shutdown()


def configure(
    exporter: str | None,
    *,
    endpoint: str | None = None,
    service_name: str = "gateway",
    span_exporter: Any = None,
) -> Tracing | None:
    """Turn tracing on (``otlp_http`` to ``endpoint``, or a given ``span_exporter``)
    or off (``exporter`` None). Raises ``ConfigError`` when the extra is missing."""
    global _current
    if _current is not None:
        _current.shutdown()
        _current = None
    if exporter is None and span_exporter is None:
        return None
    try:
        if span_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            span_exporter = (
                OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
            )
        _current = Tracing(span_exporter, service_name, batch=exporter is not None)
    except ImportError as exc:
        raise ConfigError(
            "gateway.telemetry.tracing needs the tracing extra: "
            f"pip install 'gateway[tracing]' ({exc.name} is missing)",
            key_path="gateway.telemetry.tracing",
        ) from exc
    logger.info("tracing on: %s %s", exporter or "in-process", endpoint or "")
    return _current


def tracing() -> Tracing | None:
    return _current


_OFF: AbstractContextManager[None] = nullcontext()
"""What a span is while tracing is off: one shared no-op."""


def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, Any]
) -> AbstractContextManager[Any]:
    """The request's span, child of the client's ``traceparent`` when it sent one."""
    if _current is None:
        return _OFF
    return _server_span(_current, name, headers, attributes)


@contextmanager
def _server_span(
    current: Any,
    name: str,
    headers: Mapping[str, str],
    attributes: Mapping[str, Any],
) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind

    parent = current.propagator.extract(carrier=dict(headers))
    with current.tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes)
    ) as found:
        yield found


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one (a no-op when tracing is off)."""
    if _current is None:
        return _OFF
    return _span(_current, name, attributes)


@contextmanager
def _span(current: Any, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    with current.tracer.start_as_current_span(name, attributes=attributes) as found:
        yield found


def event(name: str, **attributes: Any) -> None:
    """A span of no duration under the current one (a subscription event)."""
    current = _current
    if current is not None:
        current.tracer.start_span(name, attributes=attributes).end()


class TracedTransport:
    """A transport whose fetches are client spans; the subgraph is sent the span's
    ``traceparent`` (``Transport`` protocol)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.sees_client_headers = inner.sees_client_headers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _with_trace(
        self, request: SubgraphRequest, current: Tracing
    ) -> SubgraphRequest:
        carrier: dict[str, str] = {}
        current.propagator.inject(carrier)
        if not carrier:
            return request
        context = request.context
        forward = {
            **context.forward,
            self.name: {**context.headers_to(self.name), **carrier},
        }
        return dataclasses.replace(
            request, context=dataclasses.replace(context, forward=forward)
        )

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        current = _current
        if current is None:
            return await self.inner.fetch(request)
        from opentelemetry.trace import SpanKind, Status, StatusCode

        with current.tracer.start_as_current_span(
            f"fetch {self.name}",
            kind=SpanKind.CLIENT,
            attributes={
                "graphql.subgraph": self.name,
                "graphql.operation.name": request.operation_name or "",
            },
        ) as found:
            try:
                result = await self.inner.fetch(self._with_trace(request, current))
            except SubgraphError as exc:
                found.set_status(Status(StatusCode.ERROR, exc.message))
                raise
            if result.get("errors"):
                found.set_attribute("graphql.errors", len(result["errors"]))
            return result

    def subscribe(self, request: SubgraphRequest) -> Any:
        current = _current
        if current is None:
            return self.inner.subscribe(request)
        from opentelemetry.trace import SpanKind

        # The upstream is opened now: its span is the subscription's start.
        with current.tracer.start_as_current_span(
            f"subscribe {self.name}",
            kind=SpanKind.CLIENT,
            attributes={"graphql.subgraph": self.name},
        ):
            return self.inner.subscribe(self._with_trace(request, current))
