"""Queries and mutations to a remote subgraph over HTTP (GraphQL over HTTP, JSON POST).

One ``HTTP1Client`` (``gateway.transports.h1``: keep-alive pools, llhttp parsing) is
shared by every transport; OS, HTTP and JSON faults become
``gateway.errors.SubgraphError`` in ``gateway.transports.boundary``. See https://graphql.github.io/graphql-over-http/draft/#sec-POST

An answer is read in chunks up to ``max_response_bytes`` (64 MB by default): a larger
one (by its ``Content-Length`` or by what arrived) fails the fetch with
``SubgraphResponseTooLargeError`` and the connection is dropped without reading the
rest.

Identical queries in flight at the same time (same body, same propagated headers) share
one upstream request when ``dedup`` is on, and one decoded answer: when several
fetches waited, each gets it as a ``SharedResult``, which the executor never changes
(``gateway.execution.merge`` copies on write). Mutations are never shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any, cast

import orjson
from graphql import OperationDefinitionNode, OperationType

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphResponseTooLargeError,
)
from gateway.transports.base import SharedResult, SubgraphRequest, SubgraphResult
from gateway.transports.boundary import (
    FOREIGN_ERRORS,
    decode_graphql_response,
    mapped,
)
from gateway.transports.h1 import (
    BadResponse,
    HTTP1Client,
    InvalidRequest,
    TooLarge,
    header_lines,
)

__all__ = ["HTTPTransport", "encode_body"]

logger = logging.getLogger("gateway.transports.http")


_ACCEPT = "application/graphql-response+json, application/json;q=0.9"

_FIXED = header_lines({"Content-Type": "application/json", "Accept": _ACCEPT})
"""The headers every fetch sends, encoded once."""

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


_Key = tuple[bytes, tuple[tuple[str, str], ...]]


class _Flight:
    """One upstream request in flight, and how many fetches wait for it."""

    __slots__ = ("future", "waiters")

    def __init__(self, future: asyncio.Future[SubgraphResult]) -> None:
        self.future = future
        self.waiters = 1


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


def encode_body(request: SubgraphRequest) -> bytes:
    """The JSON body of a GraphQL-over-HTTP POST for ``request``."""
    payload: dict[str, Any] = {"query": request.query}
    if request.operation_name is not None:
        payload["operationName"] = request.operation_name
    if request.variables:
        payload["variables"] = request.variables
    if request.extensions:
        payload["extensions"] = request.extensions
    return orjson.dumps(payload)


class HTTPTransport:
    """POSTs GraphQL requests to ``url`` as JSON."""

    sees_client_headers = False  # it is sent context.headers_to(name) only

    def __init__(
        self,
        name: str,
        url: str,
        client: HTTP1Client,
        *,
        timeout: float = 30.0,
        dedup: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.name = name
        self.max_response_bytes = max_response_bytes
        self.url = url
        self._client = client
        self._timeout = timeout
        self._dedup = dedup
        self._inflight: dict[_Key, _Flight] = {}
        self.upstream_requests = 0
        """How many HTTP requests this transport has sent (dedup shows here)."""

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        body = encode_body(request)
        extra = request.context.headers_to(self.name)
        query = _is_query(request)
        if not self._dedup or not query:
            return await self._fetch(body, extra, query)
        key = (body, tuple(sorted(extra.items())))
        flight = self._inflight.get(key)
        if flight is None:
            future = asyncio.ensure_future(self._fetch(body, extra, True))
            flight = self._inflight[key] = _Flight(future)
            future.add_done_callback(partial(self._forget, key))
        else:
            flight.waiters += 1
        result = await asyncio.shield(flight.future)
        if flight.waiters > 1:
            # Every waiter has joined by now (the flight is forgotten when done).
            return cast(SubgraphResult, SharedResult(result))
        return result

    async def _fetch(
        self, body: bytes, extra: Mapping[str, str], idempotent: bool
    ) -> SubgraphResult:
        # One coroutine from the executor's fetch to the socket: this is every
        # fetch's path (``mapped_errors``, inlined).
        self.upstream_requests += 1
        try:
            raw = await self._client.post(
                self.url,
                body,
                extra,
                fixed=_FIXED,
                timeout=self._timeout,
                limit=self.max_response_bytes,
                idempotent=idempotent,
            )
        except TooLarge as exc:
            raise self._too_large(exc.what) from None
        except BadResponse as exc:
            logger.warning("subgraph %s at %s: %s", self.name, self.url, exc)
            raise SubgraphBadResponseError(
                f"subgraph {self.name!r} sent a malformed HTTP response",
                service=self.name,
            ) from exc
        except InvalidRequest as exc:  # a header with a line break, a bad URL
            logger.warning("subgraph %s at %s: %s", self.name, self.url, exc)
            raise SubgraphError(
                f"the request to subgraph {self.name!r} could not be sent",
                service=self.name,
                code="SUBGRAPH_REQUEST_INVALID",
            ) from exc
        except FOREIGN_ERRORS as exc:
            raise mapped(exc, self.name, self.url, "fetch") from exc
        return decode_graphql_response(
            raw.body,
            service=self.name,
            status=raw.status,
            content_type=raw.content_type,
        )

    def _forget(self, key: _Key, _: object) -> None:
        self._inflight.pop(key, None)

    def _too_large(self, what: str) -> SubgraphResponseTooLargeError:
        return SubgraphResponseTooLargeError(
            f"subgraph {self.name!r} answer {what}; the limit is "
            f"{self.max_response_bytes} bytes",
            service=self.name,
        )

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        raise SubgraphError(
            f"subgraph {self.name!r} has no subscription transport configured",
            service=self.name,
            code="SUBSCRIPTIONS_NOT_SUPPORTED",
        )
        yield  # pragma: no cover - makes this an async generator
