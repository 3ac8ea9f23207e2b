"""Multipart HTTP answers: Apollo's multipart subscriptions, as an encoder of the stream loop.

``Accept: multipart/mixed;subscriptionSpec=1.0`` (Apollo Client's default for HTTP
subscriptions, served by Apollo Router and Cosmo) gets
``multipart/mixed;boundary="graphql";subscriptionSpec=1.0``: each event is a part
``{"payload": {...}}``; an error that ends the stream (a subgraph gone, a shutdown)
is ``{"payload": null, "errors": [...]}``; an idle stream gets a ``{}`` part every
heartbeat interval; the closing delimiter ``--graphql--`` ends every stream.

A query or mutation asked for as multipart gets one part: ``{"payload": result}``
under ``subscriptionSpec``, the result with ``"hasNext": false`` under
``deferSpec=20220824`` (incremental delivery, which this gateway never splits).

See https://www.apollographql.com/docs/graphos/routing/operations/subscriptions/multipart-protocol
and https://www.rfc-editor.org/rfc/rfc2046#section-5.1.1 (the body's syntax).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway.http.graphql import MULTIPART_MIXED, SUBSCRIPTION_SPEC
from gateway.http.streaming import shutdown_payload

__all__ = ["BOUNDARY", "MultipartEncoder", "content_type", "part"]

BOUNDARY = "graphql"
_DELIMITER = b"\r\n--" + BOUNDARY.encode() + b"\r\n"
_CLOSE = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
_PART_HEADERS = b"Content-Type: application/json; charset=utf-8\r\n\r\n"
_HEARTBEAT = b"{}"


def content_type(spec: str) -> str:
    """The response's media type for ``spec`` (``subscriptionSpec=1.0`` or
    ``deferSpec=20220824``)."""
    return f'{MULTIPART_MIXED};boundary="{BOUNDARY}";{spec}'


def part(body: bytes) -> bytes:
    """One part: the delimiter, its headers and ``body`` (JSON)."""
    return _DELIMITER + _PART_HEADERS + body


def _is_transport_error(payload: Mapping[str, Any]) -> bool:
    # A GraphQL result always has ``data`` once execution started; a payload of
    # errors alone is the stream's own failure (upstream gone, limits, shutdown).
    return "data" not in payload and bool(payload.get("errors"))


class MultipartEncoder:
    """Events as multipart parts, under Apollo's subscription or defer spec."""

    __slots__ = ("_request", "_spec", "response")

    def __init__(self, request: web.Request, spec: str) -> None:
        self._request = request
        self._spec = spec
        self.response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": content_type(spec),
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            },
        )

    def encode(self, payload: Mapping[str, Any]) -> bytes:
        """The part body of one result."""
        if self._spec == SUBSCRIPTION_SPEC:
            if _is_transport_error(payload):
                return orjson.dumps({"payload": None, "errors": payload["errors"]})
            return orjson.dumps({"payload": payload})
        return orjson.dumps({**payload, "hasNext": False})

    async def open(self) -> None:
        await self.response.prepare(self._request)

    async def send(self, payload: dict[str, Any], event_id: str | None) -> None:
        del event_id  # multipart has no resume
        await self.response.write(part(self.encode(payload)))

    async def finish(self, *, shutting_down: bool) -> None:
        if shutting_down:
            await self.response.write(part(self.encode(shutdown_payload())))
        await self.response.write(_CLOSE)
        await self.response.write_eof()

    async def heartbeat(self) -> None:
        await self.response.write(part(_HEARTBEAT))

    def alive(self) -> bool:
        transport = self._request.transport
        return transport is not None and not transport.is_closing()

    def backlog(self) -> int:
        transport = self._request.transport
        return transport.get_write_buffer_size() if transport is not None else 0
