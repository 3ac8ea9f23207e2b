"""Queries and mutations to a remote subgraph over HTTP (GraphQL over HTTP, JSON POST).

One ``aiohttp.ClientSession`` is shared by every transport (connection pooling);
aiohttp, OS and JSON exceptions are mapped to ``gateway.errors.SubgraphError`` here and
nowhere else. See https://graphql.github.io/graphql-over-http/draft/#sec-POST

Identical queries in flight at the same time (same body, same propagated headers) share
one upstream request when ``dedup`` is on; every waiter decodes its own copy of the
answer. Mutations are never shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

import aiohttp
import orjson
from graphql import OperationDefinitionNode, OperationType

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphHTTPError,
    SubgraphTimeoutError,
    SubgraphUnreachableError,
)
from gateway.transports.base import RequestContext, SubgraphRequest, SubgraphResult

__all__ = ["HTTPTransport", "decode_graphql_response", "map_client_errors"]

logger = logging.getLogger("gateway.transports.http")

HeadersFor = Callable[[RequestContext], Mapping[str, str]]

_ACCEPT = "application/graphql-response+json, application/json;q=0.9"


def _no_headers(context: RequestContext) -> Mapping[str, str]:
    return {}


def map_client_errors(exc: BaseException, *, service: str, url: str) -> SubgraphError:
    """The one place aiohttp/OS errors become gateway errors."""
    if isinstance(exc, SubgraphError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return SubgraphTimeoutError(
            f"subgraph {service!r} did not answer in time ({url})", service=service
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return SubgraphUnreachableError(
            f"subgraph {service!r} has an invalid URL: {url}", service=service
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return SubgraphHTTPError(
            f"subgraph {service!r} answered HTTP {exc.status}",
            service=service,
            status=exc.status,
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return SubgraphBadResponseError(
            f"subgraph {service!r} sent a broken response body: {exc}", service=service
        )
    reason = str(exc) or type(exc).__name__
    return SubgraphUnreachableError(
        f"subgraph {service!r} is unreachable at {url}: {reason}", service=service
    )


def decode_graphql_response(
    body: bytes, *, service: str, status: int, content_type: str
) -> SubgraphResult:
    """Parse a subgraph's response body; anything but a GraphQL response is an error.

    A non-2xx status with a well-formed GraphQL body (``data`` absent or null and
    ``errors`` present) is passed through, as GraphQL over HTTP allows 4xx for request
    errors; any other non-2xx status is a ``SubgraphHTTPError``.
    """
    try:
        decoded = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        decoded = None
    is_graphql = isinstance(decoded, dict) and (
        "data" in decoded or "errors" in decoded
    )
    if status >= 300 and not (is_graphql and status < 500 and decoded.get("errors")):  # type: ignore[union-attr]
        raise SubgraphHTTPError(
            f"subgraph {service!r} answered HTTP {status}",
            service=service,
            status=status,
        )
    if not is_graphql:
        kind = content_type or "no content type"
        raise SubgraphBadResponseError(
            f"subgraph {service!r} did not answer with a GraphQL response ({kind})",
            service=service,
            status=status,
        )
    result: dict[str, Any] = decoded  # type: ignore[assignment]
    errors = result.get("errors")
    if errors is not None and not isinstance(errors, list):
        raise SubgraphBadResponseError(
            f"subgraph {service!r} sent 'errors' that is not a list", service=service
        )
    data = result.get("data")
    if data is not None and not isinstance(data, dict):
        raise SubgraphBadResponseError(
            f"subgraph {service!r} sent 'data' that is not an object", service=service
        )
    return result  # type: ignore[return-value]


_Key = tuple[bytes, tuple[tuple[str, str], ...]]


class _Raw(NamedTuple):
    body: bytes
    status: int
    content_type: str


def _is_query(request: SubgraphRequest) -> bool:
    """Whether a request may share an upstream request with identical ones."""
    if request.document is not None:
        for definition in request.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if request.operation_name in (
                    None,
                    getattr(definition.name, "value", None),
                ):
                    return definition.operation is OperationType.QUERY
        return False
    text = request.query.lstrip()
    return text.startswith("{") or text.startswith("query")


class HTTPTransport:
    """POSTs GraphQL requests to ``url`` as JSON."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 30.0,
        headers_for: HeadersFor = _no_headers,
        dedup: bool = False,
    ) -> None:
        self.name = name
        self.url = url
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers_for = headers_for
        self._dedup = dedup
        self._inflight: dict[
            tuple[bytes, tuple[tuple[str, str], ...]], asyncio.Future[_Raw]
        ] = {}
        self.upstream_requests = 0
        """How many HTTP requests this transport has sent (dedup shows here)."""

    def _body(self, request: SubgraphRequest) -> bytes:
        payload: dict[str, Any] = {"query": request.query}
        if request.operation_name is not None:
            payload["operationName"] = request.operation_name
        if request.variables:
            payload["variables"] = request.variables
        if request.extensions:
            payload["extensions"] = request.extensions
        return orjson.dumps(payload)

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        body = self._body(request)
        extra = self._headers_for(request.context)
        if not self._dedup or not _is_query(request):
            raw = await self._send(body, extra)
        else:
            key = (body, tuple(sorted(extra.items())))
            future = self._inflight.get(key)
            if future is None:
                future = asyncio.ensure_future(self._send(body, extra))
                self._inflight[key] = future
                future.add_done_callback(partial(self._forget, key))
            raw = await asyncio.shield(future)
        return decode_graphql_response(
            raw.body,
            service=self.name,
            status=raw.status,
            content_type=raw.content_type,
        )

    def _forget(self, key: _Key, _: object) -> None:
        self._inflight.pop(key, None)

    async def _send(self, body: bytes, extra: Mapping[str, str]) -> _Raw:
        headers = {"Content-Type": "application/json", "Accept": _ACCEPT, **extra}
        self.upstream_requests += 1
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                return _Raw(
                    await response.read(), response.status, response.content_type
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            logger.debug("fetch from %s failed: %r", self.name, exc)
            raise map_client_errors(exc, service=self.name, url=self.url) from exc

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        raise SubgraphError(
            f"subgraph {self.name!r} has no subscription transport configured",
            service=self.name,
            code="SUBSCRIPTIONS_NOT_SUPPORTED",
        )
        yield  # pragma: no cover - makes this an async generator
