"""GraphQL over WebSocket: ``graphql-transport-ws`` and the legacy ``graphql-ws``.

One socket carries many operations (queries, mutations and subscriptions); each is a
stream of the one subscription core (``gateway.http.streaming.run_stream``: limits
per operation, heartbeats, shutdown, closing its source), written by this module's
encoder in the protocol the client chose with ``Sec-WebSocket-Protocol``:

* ``graphql-transport-ws`` (the graphql-ws library): ``connection_init`` /
  ``connection_ack``, ``ping`` / ``pong``, ``subscribe``, ``next``, ``error``,
  ``complete``; close codes 4400 (invalid message), 4401 (subscribe before the
  ack), 4408 (no ``connection_init`` in time), 4409 (an id in use), 4429 (a second
  ``connection_init``), 1001 at shutdown.
  See https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
* ``graphql-ws`` (subscriptions-transport-ws, legacy): ``connection_init`` /
  ``connection_ack`` / ``connection_error``, ``ka``, ``start`` / ``data`` /
  ``error`` / ``complete`` / ``stop``, ``connection_terminate``.
  See https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md

The upgrade is refused with 400 for an unknown (or missing) subprotocol and with 403
for an ``Origin`` outside the allow-list (``gateway.http.origins``). The headers of
the upgrade request, overridden by those in the ``connection_init`` payload (its
string fields, or its ``headers`` object, as Apollo and graphql-ws users send an
``Authorization``), are the operations' client headers: header propagation applies
to them as to an HTTP request's. A client that goes away ends every operation of its
socket, and each closes its upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import BadRequestError, RequestError
from gateway.events import EVENT_ID, StreamEvent
from gateway.headers import HOP_BY_HOP
from gateway.http.graphql import APPLICATION_JSON, error_response
from gateway.http.origins import origin_allowed
from gateway.http.streaming import (
    StreamRegistry,
    client_key,
    run_stream,
    shutdown_payload,
)
from gateway.operation import GraphQLRequest
from gateway.transports.base import RequestContext

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "SUBPROTOCOLS",
    "OperationRunner",
    "SocketOptions",
    "Sockets",
    "init_headers",
    "is_websocket_upgrade",
    "serve_websocket",
]

logger = logging.getLogger("gateway.http.websocket")

GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
GRAPHQL_WS = "graphql-ws"
SUBPROTOCOLS = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)

EventsFactory = Callable[[], AsyncIterator[StreamEvent]]
OperationRunner = Callable[[GraphQLRequest, RequestContext], EventsFactory]
"""Prepares one operation for a socket's client (raises ``RequestError`` for a bad
one) and returns what streams its results: a subscription's events, or the one
result of a query or mutation."""

ContextFactory = Callable[
    [CIMultiDictProxy[str], str | None], RequestContext | Awaitable[RequestContext]
]
"""The ``RequestContext`` of a socket's operations, from its client headers and
address (the gateway adds the headers each subgraph is sent, and checks a token
they carry: a ``RequestError`` here refuses the connection, 4403)."""

# Close codes of graphql-transport-ws (PROTOCOL.md) and RFC 6455.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 4500
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_SUBSCRIBER_EXISTS = 4409
CLOSE_TOO_MANY_INITS = 4429

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_NOT_FROM_PAYLOAD = HOP_BY_HOP | {"origin", "cookie", "last-event-id"}
"""Headers a ``connection_init`` payload cannot set (the connection's own)."""


def is_websocket_upgrade(request: web.Request) -> bool:
    """A GET asking to upgrade to WebSocket."""
    return (
        request.method == "GET"
        and request.headers.get("Upgrade", "").lower() == "websocket"
    )


def init_headers(
    upgrade: Mapping[str, str], payload: Mapping[str, Any] | None
) -> CIMultiDictProxy[str]:
    """The client headers of a socket's operations: the upgrade request's, then the
    ``connection_init`` payload's string fields and its ``headers`` object (these
    win). Names that are not header names, values with line breaks, and the
    connection's own headers (``Host``, ``Origin``, ``Sec-*``...) are left out."""
    headers: CIMultiDict[str] = CIMultiDict(upgrade)
    if not payload:
        return CIMultiDictProxy(headers)
    fields: list[tuple[Any, Any]] = list(payload.items())
    nested = payload.get("headers")
    if isinstance(nested, Mapping):
        fields.extend(nested.items())
    for name, value in fields:
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        lower = name.lower()
        if (
            not _HEADER_NAME.fullmatch(name)
            or lower in _NOT_FROM_PAYLOAD
            or lower.startswith("sec-")
            or "\r" in value
            or "\n" in value
        ):
            continue
        headers[name] = value
    return CIMultiDictProxy(headers)


@dataclass(frozen=True, slots=True)
class SocketOptions:
    """How a server runs its sockets."""

    registry: StreamRegistry
    """The streams of every wire format: limits, heartbeats, shutdown."""
    heartbeat_interval: float = 30.0
    """Idle seconds before a ``ping`` (``ka`` in the legacy protocol)."""
    init_timeout: float = 10.0
    """Seconds a client has to send ``connection_init``."""
    origin_check: Callable[[web.Request], bool] | None = None
    """Whether the upgrade's ``Origin`` may connect; None: ``origin_allowed`` with
    its default (local pages only). The gateway passes its CORS policy."""
    max_message_bytes: int = 1024 * 1024
    event_ids: bool = False
    """Put each event's id in its payload's ``extensions.eventId`` (a subgraph
    server does, so the gateway can resume its sources)."""


class Sockets:
    """The open sockets of a server, for shutdown."""

    def __init__(self) -> None:
        self._open: set[_Connection] = set()

    def __len__(self) -> int:
        return len(self._open)

    async def shutdown(self) -> None:
        """Close every socket with 1001 once its operations have ended (the stream
        registry's shutdown asks them to; each protocol then says so)."""
        await asyncio.gather(
            *(connection.shutdown() for connection in list(self._open)),
            return_exceptions=True,
        )


# -- the two protocols -----------------------------------------------------------------


class _Protocol:
    """What differs between the two subprotocols: message names and endings."""

    name = ""
    next_type = ""
    keepalive: dict[str, str] = {}

    def error_message(self, op_id: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def finish_messages(
        self, op_id: Any, *, shutting_down: bool
    ) -> list[dict[str, Any]]:
        raise NotImplementedError


class _TransportWS(_Protocol):
    name = GRAPHQL_TRANSPORT_WS
    next_type = "next"
    keepalive = {"type": "ping"}

    def error_message(self, op_id: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": op_id, "type": "error", "payload": errors}

    def finish_messages(
        self, op_id: Any, *, shutting_down: bool
    ) -> list[dict[str, Any]]:
        # At shutdown the socket closes with 1001: the client reconnects and
        # subscribes again, which a ``complete`` would prevent.
        return [] if shutting_down else [{"id": op_id, "type": "complete"}]


class _LegacyWS(_Protocol):
    name = GRAPHQL_WS
    next_type = "data"
    keepalive = {"type": "ka"}

    def error_message(self, op_id: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
        # subscriptions-transport-ws clients read one error object or a list.
        return {"id": op_id, "type": "error", "payload": errors}

    def finish_messages(
        self, op_id: Any, *, shutting_down: bool
    ) -> list[dict[str, Any]]:
        complete = {"id": op_id, "type": "complete"}
        if shutting_down:
            return [
                {"id": op_id, "type": "data", "payload": shutdown_payload()},
                complete,
            ]
        return [complete]


_PROTOCOLS: dict[str, _Protocol] = {
    GRAPHQL_TRANSPORT_WS: _TransportWS(),
    GRAPHQL_WS: _LegacyWS(),
}


class _Close(Exception):
    """Close the socket with ``code`` (a protocol violation)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- one operation's encoder -------------------------------------------------------------


class _OperationEncoder:
    """Writes one operation's events as the socket's protocol messages."""

    __slots__ = ("_connection", "_op_id")

    def __init__(self, connection: _Connection, op_id: Any) -> None:
        self._connection = connection
        self._op_id = op_id

    async def open(self) -> None:
        return None

    async def send(self, payload: dict[str, Any], event_id: str | None) -> None:
        connection = self._connection
        if event_id is not None and connection.options.event_ids:
            payload = {
                **payload,
                "extensions": {**(payload.get("extensions") or {}), EVENT_ID: event_id},
            }
        await connection.send(
            {
                "id": self._op_id,
                "type": connection.protocol.next_type,
                "payload": payload,
            }
        )

    async def finish(self, *, shutting_down: bool) -> None:
        connection = self._connection
        for message in connection.protocol.finish_messages(
            self._op_id, shutting_down=shutting_down
        ):
            await connection.send(message)

    async def heartbeat(self) -> None:
        await self._connection.keepalive()

    def alive(self) -> bool:
        return self._connection.alive()

    def backlog(self) -> int:
        return self._connection.backlog()


# -- one socket ----------------------------------------------------------------------------


class _Connection:
    """One client socket: its protocol state and its running operations."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        protocol: _Protocol,
        run: OperationRunner,
        make_context: ContextFactory,
        options: SocketOptions,
    ) -> None:
        self.request = request
        self.ws = ws
        self.protocol = protocol
        self.run = run
        self.make_context = make_context
        self.options = options
        self.client = client_key(request)
        self.context: RequestContext | None = None
        """Set by ``connection_init``; operations run with it."""
        self.init_seen = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.stopped: set[str] = set()
        """Operations the client stopped (the legacy protocol then says complete)."""
        self.last_write = 0.0
        self.closing = False

    # -- writing -----------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        self.last_write = asyncio.get_running_loop().time()
        await self.ws.send_str(orjson.dumps(message).decode())

    async def keepalive(self) -> None:
        """A ``ping`` (``ka``) unless the socket wrote lately: one per socket,
        however many of its operations are idle."""
        now = asyncio.get_running_loop().time()
        if now - self.last_write < self.options.heartbeat_interval / 2:
            return
        await self.send(dict(self.protocol.keepalive))

    def alive(self) -> bool:
        transport = self.request.transport
        return (
            not self.ws.closed and transport is not None and not transport.is_closing()
        )

    def backlog(self) -> int:
        transport = self.request.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    async def close(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])

    # -- reading -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Read messages until the client or the server closes the socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.init_timeout
        try:
            while not self.ws.closed:
                try:
                    if self.init_seen:
                        message = await self.ws.receive()
                    else:
                        async with asyncio.timeout_at(deadline):
                            message = await self.ws.receive()
                except TimeoutError:
                    raise _Close(
                        CLOSE_INIT_TIMEOUT, "Connection initialisation timeout"
                    ) from None
                if message.type == WSMsgType.TEXT:
                    await self.handle(self._decode(message.data))
                elif message.type == WSMsgType.BINARY:
                    raise _Close(CLOSE_BAD_REQUEST, "Binary messages are not supported")
                else:  # CLOSE, CLOSING, CLOSED, ERROR: the client went away
                    break
        except _Close as close:
            logger.debug(
                "closing a %s socket: %s %s",
                self.protocol.name,
                close.code,
                close.reason,
            )
            await self.close(close.code, close.reason)
        finally:
            await self.end_operations()

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Close(
                CLOSE_BAD_REQUEST, "Invalid message received: not JSON"
            ) from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Close(CLOSE_BAD_REQUEST, "Invalid message received: no 'type' field")
        return message

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.protocol.name == GRAPHQL_TRANSPORT_WS:
            await self._transport_ws(kind, message)
        else:
            await self._legacy(kind, message)

    async def _init(self, message: dict[str, Any]) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise _Close(
                CLOSE_BAD_REQUEST, "Invalid message received: payload is not an object"
            )
        self.init_seen = True
        headers = init_headers(self.request.headers, payload)
        try:
            context = self.make_context(headers, self.request.remote)
            if inspect.isawaitable(context):
                context = await context
        except RequestError as exc:  # a bad or missing token (gateway.authentication)
            raise _Close(CLOSE_FORBIDDEN, f"Forbidden: {exc.message}"[:120]) from None
        self.context = context

    async def _transport_ws(self, kind: str, message: dict[str, Any]) -> None:
        if kind == "connection_init":
            if self.init_seen:
                raise _Close(CLOSE_TOO_MANY_INITS, "Too many initialisation requests")
            await self._init(message)
            await self.send({"type": "connection_ack"})
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if isinstance(message.get("payload"), dict):
                pong["payload"] = message["payload"]
            await self.send(pong)
        elif kind == "pong":
            return
        elif kind == "subscribe":
            if self.context is None:
                raise _Close(CLOSE_UNAUTHORIZED, "Unauthorized")
            op_id = message.get("id")
            if not isinstance(op_id, str) or not op_id:
                raise _Close(CLOSE_BAD_REQUEST, "Invalid message received: no 'id'")
            if op_id in self.operations:
                raise _Close(
                    CLOSE_SUBSCRIBER_EXISTS,
                    f"Subscriber for {op_id} already exists"[:120],
                )
            self._start(op_id, op_id, message.get("payload"))
        elif kind == "complete":
            op_id = message.get("id")
            if isinstance(op_id, str):
                await self._stop(op_id)
        else:
            raise _Close(
                CLOSE_BAD_REQUEST,
                f"Invalid message received: unknown type {kind!r}"[:120],
            )

    async def _legacy(self, kind: str, message: dict[str, Any]) -> None:
        if kind == "connection_init":
            try:
                await self._init(message)
            except _Close as close:
                await self.send(
                    {"type": "connection_error", "payload": {"message": close.reason}}
                )
                return
            await self.send({"type": "connection_ack"})
            await self.send(dict(self.protocol.keepalive))
        elif kind == "connection_terminate":
            raise _Close(CLOSE_NORMAL, "connection terminated")
        elif kind in ("start", "stop"):
            raw_id = message.get("id")
            if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
                await self._legacy_error(None, "the message has no 'id'")
                return
            op_id = str(raw_id)
            if kind == "stop":
                await self._stop(op_id)
                return
            if self.context is None:
                await self._legacy_error(raw_id, "send connection_init first")
                return
            if op_id in self.operations:
                # subscriptions-transport-ws: a start with a used id replaces it.
                await self._stop(op_id, complete=False)
            self._start(op_id, raw_id, message.get("payload"))
        else:
            await self._legacy_error(
                message.get("id"), f"unknown message type {kind!r}"
            )

    async def _legacy_error(self, op_id: Any, text: str) -> None:
        error = BadRequestError(f"invalid message: {text}")
        message: dict[str, Any] = {"type": "error", "payload": [error.to_graphql()]}
        if op_id is not None:
            message["id"] = op_id
        await self.send(message)

    # -- operations --------------------------------------------------------------------

    def _start(self, op_id: str, raw_id: Any, payload: Any) -> None:
        task = asyncio.create_task(
            self._operation(op_id, raw_id, payload), name=f"websocket operation {op_id}"
        )
        self.operations[op_id] = task

    async def _operation(self, op_id: str, raw_id: Any, payload: Any) -> None:
        registry = self.options.registry
        try:
            assert self.context is not None
            try:
                events = self.run(_graphql_request(payload), self.context)
                stream = registry.open(self.client)
            except RequestError as exc:
                await self.send(
                    self.protocol.error_message(raw_id, exc.graphql_errors())
                )
                return
            try:
                await run_stream(
                    registry,
                    stream,
                    _OperationEncoder(self, raw_id),
                    events,
                    heartbeat_interval=self.options.heartbeat_interval,
                    number_events=not self.options.event_ids,
                )
            except asyncio.CancelledError:
                if op_id in self.stopped and self.protocol.name == GRAPHQL_WS:
                    # The legacy protocol answers a stop with complete.
                    with contextlib.suppress(ConnectionError):
                        await self.send({"id": raw_id, "type": "complete"})
                raise
        except ConnectionError as exc:
            logger.debug("socket closed under an operation: %r", exc)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("a WebSocket operation failed")
            with contextlib.suppress(Exception):
                await self.close(CLOSE_INTERNAL_ERROR, "Internal server error")
        finally:
            self.stopped.discard(op_id)
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def _stop(self, op_id: str, *, complete: bool = True) -> None:
        task = self.operations.pop(op_id, None)
        if task is None or task.done():
            return
        if complete:
            self.stopped.add(op_id)
        task.cancel()
        await asyncio.wait({task})

    async def end_operations(self) -> None:
        """The client went away (or the socket is closing): end every operation;
        each closes its event source, so its upstream closes too."""
        tasks = list(self.operations.values())
        self.operations.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def shutdown(self) -> None:
        tasks = list(self.operations.values())
        if tasks:
            # The registry has asked each to end; they send their last messages.
            await asyncio.wait(tasks, timeout=2.0)
        await self.close(CLOSE_GOING_AWAY, "server shutting down")


def _graphql_request(payload: Any) -> GraphQLRequest:
    """A ``subscribe`` / ``start`` payload as a ``GraphQLRequest``."""
    if not isinstance(payload, dict):
        raise BadRequestError("the operation's payload must be an object")
    query = payload.get("query")
    if not isinstance(query, str):
        raise BadRequestError("the request has no 'query'")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequestError("'operationName' must be a string")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequestError("'variables' must be an object")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise BadRequestError("'extensions' must be an object")
    return GraphQLRequest(
        query=query,
        operation_name=operation_name,
        variables=variables,
        extensions=extensions,
    )


def _chosen_subprotocol(request: web.Request) -> str | None:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    for name in (part.strip() for part in offered.split(",")):
        if name in _PROTOCOLS:
            return name
    return None


async def serve_websocket(
    request: web.Request,
    sockets: Sockets,
    run: OperationRunner,
    make_context: ContextFactory,
    options: SocketOptions,
) -> web.StreamResponse:
    """Upgrade ``request`` and serve GraphQL on the socket until it closes."""
    allowed = (
        options.origin_check(request)
        if options.origin_check is not None
        else origin_allowed(request.headers.get("Origin"))
    )
    if not allowed:
        error = RequestError(
            f"WebSocket connections from origin {request.headers.get('Origin')!r} "
            "are not allowed",
            code="ORIGIN_NOT_ALLOWED",
            status=403,
        )
        return error_response(error, APPLICATION_JSON, keep_status=True)
    name = _chosen_subprotocol(request)
    if name is None:
        offered = request.headers.get("Sec-WebSocket-Protocol")
        error = BadRequestError(
            (
                f"unsupported WebSocket subprotocol {offered!r}"
                if offered
                else "no WebSocket subprotocol given (Sec-WebSocket-Protocol)"
            )
            + f"; supported: {', '.join(SUBPROTOCOLS)}",
            code="UNSUPPORTED_SUBPROTOCOL",
        )
        return error_response(error, APPLICATION_JSON, keep_status=True)
    ws = web.WebSocketResponse(
        protocols=(name,), max_msg_size=options.max_message_bytes, autoping=True
    )
    await ws.prepare(request)
    connection = _Connection(request, ws, _PROTOCOLS[name], run, make_context, options)
    sockets._open.add(connection)
    try:
        await connection.serve()
    except ConnectionError as exc:
        logger.debug("socket ended: %r", exc)
    finally:
        sockets._open.discard(connection)
        await connection.end_operations()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
