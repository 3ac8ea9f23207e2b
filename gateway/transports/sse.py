"""Subscriptions to a remote subgraph over SSE (graphql-sse, distinct connections mode).

One HTTP request per upstream subscription, as Cosmo Router sends them: ``GET`` with
``query``/``operationName``/``variables``/``extensions`` as query parameters
(``subscription.protocol: sse``) or a JSON ``POST`` (``sse_post``), with
``Accept: text/event-stream``. The stream is decoded incrementally
(``gateway.sse.SSEDecoder``): comments are heartbeats, ``next`` carries a result,
``complete`` ends the stream, ``error`` ends it with the subgraph's errors. Every other
end (EOF without ``complete``, a dropped connection, a non-200 status, a body that is
not an event stream) raises a ``SubgraphError``: a stream never ends silently.

Event ids: an event's ``id:`` comes with its result as ``extensions.eventId``, and a
request whose context carries ``Last-Event-ID`` (a client resuming) sends it upstream
as that header, so a subgraph that can replay resumes after it.

This transport is subscription-only; queries and mutations to the same subgraph go
through ``gateway.transports.http.HTTPTransport``; ``gateway.transports.remote``
joins the two for one subgraph.
See https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md#distinct-connections-mode
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import orjson

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphHTTPError,
    SubgraphStreamError,
)
from gateway.events import EVENT_ID
from gateway.sse import Comment, SSEDecoder, SSEProtocolError
from gateway.transports.base import SubgraphRequest, SubgraphResult
from gateway.transports.boundary import (
    FOREIGN_ERRORS,
    decode_graphql_response,
    mapped_errors,
)
from gateway.transports.http import encode_body

__all__ = ["SSEMethod", "SSETransport"]

logger = logging.getLogger("gateway.transports.sse")

SSEMethod = Literal["GET", "POST"]

_EVENT_STREAM = "text/event-stream"
_JSON_TYPES = frozenset({"application/json", "application/graphql-response+json"})
_ERROR_BODY_LIMIT = 64 * 1024
"""How much of a non-stream answer is read to find its GraphQL errors."""


def _errors_from_error_event(data: str) -> list[dict[str, Any]]:
    """The errors an ``error`` event carries: a JSON list of errors, a GraphQL
    response with ``errors``, one error object, or plain text."""
    try:
        decoded = orjson.loads(data) if data.strip() else None
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list):
        decoded = decoded["errors"]
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        decoded = [decoded]
    if isinstance(decoded, list) and decoded:
        errors = [e for e in decoded if isinstance(e, dict) and "message" in e]
        if len(errors) == len(decoded):
            return errors
    text = data.strip() or "the subgraph ended the stream with an error"
    return [{"message": text}]


def _summary(errors: list[dict[str, Any]]) -> str:
    first = str(errors[0].get("message", "")) if errors else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first}{more}"


class SSETransport:
    """Opens one upstream SSE request per subscription and yields its results."""

    sees_client_headers = False  # it is sent context.headers_to(name) only

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        method: SSEMethod = "GET",
        timeout: float | None = 30.0,
        idle_timeout: float | None = None,
        max_event_size: int = 16 * 1024 * 1024,
    ) -> None:
        """``timeout`` bounds connecting and receiving the response headers;
        ``idle_timeout``, when set, bounds the silence between two reads (heartbeat
        comments count as traffic). ``max_event_size`` (characters) bounds one
        event. ``session`` should not limit connections per host below the number
        of concurrent subscriptions: each holds its connection for its lifetime.
        Without ``session`` the transport opens its own, with no connection limit,
        while at least one of its subscriptions is open (it closes with the
        last one, so nothing needs closing at shutdown)."""
        if method not in ("GET", "POST"):
            raise ValueError(f"SSE method must be GET or POST, not {method!r}")
        self.name = name
        self.url = url
        self.method: SSEMethod = method
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._open_streams = 0
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        # No total timeout: a subscription lives as long as its consumer wants it.
        self._client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout, sock_read=idle_timeout
        )
        self._max_event_size = max_event_size

    # -- request -----------------------------------------------------------------

    def _headers(self, request: SubgraphRequest) -> dict[str, str]:
        headers = {
            **request.context.headers_to(self.name),
            "Accept": _EVENT_STREAM,
            "Cache-Control": "no-cache",
        }
        if self.method == "POST":
            headers["Content-Type"] = "application/json"
        resume = request.context.headers.get("Last-Event-ID")
        if resume:
            headers["Last-Event-ID"] = resume
        return headers

    def _acquire_session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        self._open_streams += 1
        if self._own_session is None or self._own_session.closed:
            # limit=0: no cap on connections in total or per host; every open
            # subscription holds one.
            self._own_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0)
            )
        return self._own_session

    async def _release_session(self) -> None:
        if self._session is not None:
            return
        self._open_streams -= 1
        if self._open_streams == 0 and self._own_session is not None:
            session, self._own_session = self._own_session, None
            await session.close()

    def _params(self, request: SubgraphRequest) -> dict[str, str]:
        params = {"query": request.query}
        if request.operation_name is not None:
            params["operationName"] = request.operation_name
        if request.variables:
            params["variables"] = orjson.dumps(request.variables).decode()
        if request.extensions:
            params["extensions"] = orjson.dumps(request.extensions).decode()
        return params

    async def _open(
        self, session: aiohttp.ClientSession, request: SubgraphRequest
    ) -> aiohttp.ClientResponse:
        headers = self._headers(request)
        with mapped_errors(self.name, self.url, "SSE request"):
            async with asyncio.timeout(self._timeout):
                if self.method == "GET":
                    return await session.get(
                        self.url,
                        params=self._params(request),
                        headers=headers,
                        timeout=self._client_timeout,
                    )
                return await session.post(
                    self.url,
                    data=encode_body(request),
                    headers=headers,
                    timeout=self._client_timeout,
                )

    # -- response ----------------------------------------------------------------

    async def _reject(self, response: aiohttp.ClientResponse) -> SubgraphError:
        """The error for an answer that is not a 200 event stream."""
        status = response.status
        content_type = response.content_type
        try:
            async with asyncio.timeout(self._timeout):
                body = await response.content.read(_ERROR_BODY_LIMIT)
        except FOREIGN_ERRORS:
            body = b""  # the status alone decides the error
        result: SubgraphResult | None = None
        if content_type in _JSON_TYPES:
            try:
                result = decode_graphql_response(
                    body,
                    service=self.name,
                    status=200,
                    content_type=content_type,
                )
            except SubgraphError:
                result = None
        errors = list(result.get("errors") or []) if result is not None else []
        if status != 200:
            detail = f": {_summary(errors)}" if errors else ""
            return SubgraphHTTPError(
                f"subgraph {self.name!r} answered the subscription with HTTP "
                f"{status}{detail}",
                service=self.name,
                status=status,
            )
        if errors:
            # A GraphQL error response instead of a stream: the subscription could
            # not start (a validation error, for example). Its errors go on.
            return SubgraphStreamError(
                f"subgraph {self.name!r} refused the subscription: {_summary(errors)}",
                service=self.name,
                errors=errors,
                status=status,
            )
        return SubgraphBadResponseError(
            f"subgraph {self.name!r} answered the subscription with "
            f"{content_type or 'no content type'} instead of {_EVENT_STREAM}",
            service=self.name,
            status=status,
        )

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        with mapped_errors(
            self.name, self.url, "SSE stream", idle_timeout=self._idle_timeout
        ):
            return await response.content.readany()

    def _result(self, data: str, event_id: str) -> SubgraphResult:
        result = decode_graphql_response(
            data.encode(), service=self.name, status=200, content_type=_EVENT_STREAM
        )
        if event_id:
            result["extensions"] = {**result.get("extensions", {}), EVENT_ID: event_id}
        return result

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        """One result per ``next`` event; returns on ``complete``.

        Raises ``SubgraphStreamError`` (with the subgraph's errors) for an ``error``
        event or a GraphQL error response, ``SubgraphHTTPError`` for a non-200
        status, ``SubgraphBadResponseError`` for a stream that ends without
        ``complete`` or cannot be decoded, ``SubgraphTimeoutError`` when the
        idle timeout passes. Closing the iterator closes the HTTP response.
        """
        session = self._acquire_session()
        try:
            async for result in self._stream(session, request):
                yield result
        finally:
            await self._release_session()

    async def _stream(
        self, session: aiohttp.ClientSession, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        response = await self._open(session, request)
        try:
            if response.status != 200 or response.content_type != _EVENT_STREAM:
                raise await self._reject(response)
            decoder = SSEDecoder(
                dispatch_empty=True, max_event_size=self._max_event_size
            )
            while True:
                chunk = await self._read(response)
                if not chunk:
                    truncated = decoder.close()
                    raise SubgraphBadResponseError(
                        f"subgraph {self.name!r} closed its stream without 'complete'"
                        + (" (in the middle of an event)" if truncated else ""),
                        service=self.name,
                    )
                try:
                    items = decoder.feed(chunk)
                except SSEProtocolError as exc:
                    raise SubgraphBadResponseError(
                        f"subgraph {self.name!r} sent an invalid stream: {exc}",
                        service=self.name,
                    ) from exc
                for item in items:
                    if isinstance(item, Comment):
                        continue
                    if item.event == "next":
                        yield self._result(item.data, item.id)
                    elif item.event == "complete":
                        return
                    elif item.event == "error":
                        errors = _errors_from_error_event(item.data)
                        raise SubgraphStreamError(
                            f"subgraph {self.name!r} ended the stream with an error: "
                            f"{_summary(errors)}",
                            service=self.name,
                            errors=errors,
                        )
                    else:
                        logger.debug(
                            "ignoring %r event from subgraph %s", item.event, self.name
                        )
        finally:
            # Closing (not releasing) drops the connection at once: the subgraph sees
            # the disconnect and ends its side of the subscription.
            response.close()
