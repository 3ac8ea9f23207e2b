"""Subscriptions to a remote subgraph over WebSocket: graphql-transport-ws or graphql-ws.

``subscription.protocol: ws`` in supergraph.yaml, with ``websocketSubprotocol`` (or
``websocket_subprotocol``) ``graphql-transport-ws``, ``graphql-ws`` (the legacy
subscriptions-transport-ws protocol) or ``auto`` (both are offered; the subgraph's
choice is spoken), as Cosmo Router reads them. One socket per upstream subscription
(identical client subscriptions already share one, ``gateway.subscriptions``).

The forwarded headers (``RequestContext.headers_to``) go on the upgrade request and,
as ``{"headers": {...}}``, in the ``connection_init`` payload (servers that read
connection parameters only see them there); a resuming client's ``Last-Event-ID``
goes on the upgrade request. An event id comes back in a result's
``extensions.eventId`` (the gateway's own subgraph servers put it there).

Every end other than ``complete`` is an error: an ``error`` message is a
``SubgraphStreamError`` with the subgraph's errors; a socket that closes or drops
without ``complete``, an answer that is not one of the protocols, or no
``connection_ack`` in time is a ``SubgraphError``. Never a silent end. Closing the
iterator stops the operation (``complete`` / ``stop``) and closes the socket.
See https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md and
https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

import aiohttp
import orjson

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphStreamError,
    SubgraphTimeoutError,
)
from gateway.transports.base import SubgraphRequest, SubgraphResult
from gateway.transports.boundary import mapped_errors

__all__ = ["WEBSOCKET_SUBPROTOCOLS", "WSSubprotocol", "WSTransport"]

logger = logging.getLogger("gateway.transports.ws")

WSSubprotocol = Literal["auto", "graphql-transport-ws", "graphql-ws"]
WEBSOCKET_SUBPROTOCOLS: tuple[str, ...] = ("graphql-transport-ws", "graphql-ws")

_OPERATION_ID = "1"


def _errors_of(payload: Any) -> list[dict[str, Any]]:
    """The errors of an ``error`` message: a list of GraphQL errors (graphql-ws),
    one error object or a response with ``errors`` (subscriptions-transport-ws)."""
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        payload = payload["errors"]
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        payload = [payload]
    if isinstance(payload, list) and payload:
        errors = [e for e in payload if isinstance(e, dict) and "message" in e]
        if len(errors) == len(payload):
            return errors
    return [{"message": "the subgraph ended the subscription with an error"}]


class WSTransport:
    """Opens one upstream WebSocket per subscription and yields its results."""

    sees_client_headers = False  # it is sent context.headers_to(name) only

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        subprotocol: WSSubprotocol = "auto",
        timeout: float | None = 30.0,
        max_message_size: int = 16 * 1024 * 1024,
    ) -> None:
        """``timeout`` bounds the upgrade and the wait for ``connection_ack``.
        Without ``session`` the transport opens its own while at least one of its
        subscriptions is open (as ``SSETransport`` does)."""
        if subprotocol not in ("auto", *WEBSOCKET_SUBPROTOCOLS):
            raise ValueError(f"unknown WebSocket subprotocol {subprotocol!r}")
        self.name = name
        self.url = url
        self.subprotocol: WSSubprotocol = subprotocol
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._open_streams = 0
        self._timeout = timeout
        self._max_message_size = max_message_size

    @property
    def offered(self) -> tuple[str, ...]:
        """The subprotocols offered on the upgrade, preferred first."""
        if self.subprotocol == "auto":
            return WEBSOCKET_SUBPROTOCOLS
        return (self.subprotocol,)

    def _acquire_session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        self._open_streams += 1
        if self._own_session is None or self._own_session.closed:
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

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        """One result per ``next`` (``data``) message; returns on ``complete``."""
        session = self._acquire_session()
        stream = self._stream(session, request)
        try:
            async for result in stream:
                yield result
        finally:
            # Closed here, not left to the loop's finalizer: the operation is
            # stopped and the socket closed before the session goes.
            await stream.aclose()
            await self._release_session()

    # -- the socket --------------------------------------------------------------------

    async def _connect(
        self, session: aiohttp.ClientSession, request: SubgraphRequest
    ) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, str]]:
        forwarded = dict(request.context.headers_to(self.name))
        headers = dict(forwarded)
        resume = request.context.headers.get("Last-Event-ID")
        if resume:
            headers["Last-Event-ID"] = resume
        with mapped_errors(self.name, self.url, "WebSocket upgrade"):
            async with asyncio.timeout(self._timeout):
                ws = await session.ws_connect(
                    self.url,
                    protocols=self.offered,
                    headers=headers,
                    max_msg_size=self._max_message_size,
                    timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                )
        return ws, forwarded

    async def _send(
        self, ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]
    ) -> None:
        with mapped_errors(self.name, self.url, "WebSocket send"):
            await ws.send_str(orjson.dumps(message).decode())

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        """The next protocol message; a closed socket is an error (``complete``
        comes as a message, never as a close)."""
        with mapped_errors(self.name, self.url, "WebSocket stream"):
            message = await ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            try:
                decoded = orjson.loads(message.data)
            except orjson.JSONDecodeError:
                decoded = None
            if not isinstance(decoded, dict) or not isinstance(
                decoded.get("type"), str
            ):
                raise SubgraphBadResponseError(
                    f"subgraph {self.name!r} sent a WebSocket message that is not "
                    "a protocol message",
                    service=self.name,
                )
            return decoded
        if message.type == aiohttp.WSMsgType.BINARY:
            raise SubgraphBadResponseError(
                f"subgraph {self.name!r} sent a binary WebSocket message",
                service=self.name,
            )
        code = ws.close_code
        reason = f": {message.extra}" if message.extra else ""
        how = f"with code {code}{reason}" if code is not None else "(connection lost)"
        raise SubgraphBadResponseError(
            f"subgraph {self.name!r} closed its WebSocket without 'complete' {how}",
            service=self.name,
        )

    async def _handshake(
        self, ws: aiohttp.ClientWebSocketResponse, forwarded: dict[str, str]
    ) -> None:
        init: dict[str, Any] = {"type": "connection_init"}
        if forwarded:
            init["payload"] = {"headers": forwarded}
        await self._send(ws, init)
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    message = await self._receive(ws)
                    kind = message["type"]
                    if kind == "connection_ack":
                        return
                    if kind == "ping":
                        await self._send(ws, {"type": "pong"})
                    elif kind == "connection_error":
                        errors = _errors_of(message.get("payload"))
                        raise SubgraphStreamError(
                            f"subgraph {self.name!r} refused the WebSocket "
                            f"connection: {errors[0]['message']}",
                            service=self.name,
                            errors=errors,
                        )
                    elif kind not in ("ka", "pong"):
                        raise SubgraphBadResponseError(
                            f"subgraph {self.name!r} sent {kind!r} before "
                            "'connection_ack'",
                            service=self.name,
                        )
        except TimeoutError:
            raise SubgraphTimeoutError(
                f"subgraph {self.name!r} did not acknowledge the WebSocket "
                f"connection within {self._timeout} s",
                service=self.name,
            ) from None

    def _result(self, payload: Any) -> SubgraphResult:
        if not isinstance(payload, dict) or not (
            "data" in payload or "errors" in payload
        ):
            raise SubgraphBadResponseError(
                f"subgraph {self.name!r} sent a result that is not a GraphQL response",
                service=self.name,
            )
        return payload  # type: ignore[return-value]

    async def _stream(
        self, session: aiohttp.ClientSession, request: SubgraphRequest
    ) -> AsyncGenerator[SubgraphResult, None]:
        ws, forwarded = await self._connect(session, request)
        legacy = False
        done = False
        try:
            if ws.protocol not in self.offered:
                raise SubgraphBadResponseError(
                    f"subgraph {self.name!r} accepted none of the WebSocket "
                    f"subprotocols {', '.join(self.offered)}",
                    service=self.name,
                )
            legacy = ws.protocol == "graphql-ws"
            await self._handshake(ws, forwarded)
            payload: dict[str, Any] = {"query": request.query}
            if request.operation_name is not None:
                payload["operationName"] = request.operation_name
            if request.variables:
                payload["variables"] = dict(request.variables)
            if request.extensions:
                payload["extensions"] = dict(request.extensions)
            await self._send(
                ws,
                {
                    "id": _OPERATION_ID,
                    "type": "start" if legacy else "subscribe",
                    "payload": payload,
                },
            )
            next_type = "data" if legacy else "next"
            while True:
                message = await self._receive(ws)
                kind = message["type"]
                if kind in ("ka", "pong", "connection_ack"):
                    continue
                if kind == "ping":
                    await self._send(ws, {"type": "pong"})
                    continue
                if message.get("id") != _OPERATION_ID:
                    logger.debug("ignoring %r from subgraph %s", kind, self.name)
                    continue
                if kind == next_type:
                    yield self._result(message.get("payload"))
                elif kind == "complete":
                    done = True
                    return
                elif kind == "error":
                    done = True
                    errors = _errors_of(message.get("payload"))
                    raise SubgraphStreamError(
                        f"subgraph {self.name!r} ended the subscription with an "
                        f"error: {errors[0]['message']}",
                        service=self.name,
                        errors=errors,
                    )
                else:
                    logger.debug("ignoring %r from subgraph %s", kind, self.name)
        finally:
            await self._close(ws, legacy=legacy, stop=not done)

    async def _close(
        self, ws: aiohttp.ClientWebSocketResponse, *, legacy: bool, stop: bool
    ) -> None:
        """Stop the operation (when it is still running) and close the socket: the
        subgraph ends its side of the subscription."""
        if ws.closed:
            return
        with contextlib.suppress(SubgraphError, ConnectionError, RuntimeError):
            if stop:
                stop_message = {
                    "id": _OPERATION_ID,
                    "type": "stop" if legacy else "complete",
                }
                await self._send(ws, stop_message)
            if legacy:
                await self._send(ws, {"type": "connection_terminate"})
        with contextlib.suppress(Exception):
            await ws.close()
