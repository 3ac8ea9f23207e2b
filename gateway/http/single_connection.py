"""graphql-sse's single connection mode: one event stream carries many operations.

A client reserves a stream with ``PUT`` (201, the token as text/plain), opens it with
``GET`` and ``Accept: text/event-stream`` (the token in the
``X-GraphQL-Event-Stream-Token`` header or the ``token`` query parameter), sends
operations with ``POST`` (the token, ``extensions.operationId``; 202), and stops one
with ``DELETE ?operationId=``. Each result is ``event: next`` with ``{"id",
"payload"}``, each end ``event: complete`` with ``{"id"}``. Operations sent before the
stream opens wait for it. Closing the stream stops its operations; a reservation
never opened expires.

Each operation runs through the same stream loop as every other wire format
(``run_stream``: limits, shutdown, closing the source), with ``OperationEncoder`` as
its encoder: it writes into the connection's stream instead of a response of its own.

See https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md#single-connection-mode
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import BadRequestError, RequestError
from gateway.events import StreamEvent
from gateway.http.streaming import (
    SSE_HEADERS,
    StreamRegistry,
    client_key,
    run_stream,
    shutdown_payload,
)
from gateway.sse import HEARTBEAT, encode_event

__all__ = [
    "TOKEN_HEADER",
    "TOKEN_QUERY",
    "OperationEncoder",
    "SingleConnections",
    "token_of",
    "wants_single_connection",
]

logger = logging.getLogger("gateway.http.single_connection")

TOKEN_HEADER = "X-GraphQL-Event-Stream-Token"
TOKEN_QUERY = "token"


def token_of(request: web.Request) -> str | None:
    """The stream token a request carries, if any."""
    return request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_QUERY) or None


def wants_single_connection(request: web.Request) -> bool:
    """A request of the single connection mode: a reservation, a stop, or anything
    with a token."""
    return request.method in ("PUT", "DELETE") or token_of(request) is not None


def _json_error(exc: RequestError) -> web.Response:
    return web.Response(
        body=orjson.dumps({"errors": exc.graphql_errors()}),
        status=exc.status,
        content_type="application/json",
        charset="utf-8",
        headers=exc.headers or None,
    )


@dataclass(slots=True, eq=False)
class _Connection:
    token: str
    client: str
    frames: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    operations: dict[str, asyncio.Task[None] | None] = field(default_factory=dict)
    open: bool = False
    closing: bool = False
    expiry: asyncio.TimerHandle | None = None

    def put(self, frame: bytes) -> None:
        self.frames.put_nowait(frame)

    def end_if_idle(self) -> None:
        if self.closing and not self.operations:
            self.frames.put_nowait(None)


class OperationEncoder:
    """One operation's events, written into its connection's stream."""

    __slots__ = ("_connection", "_id")

    def __init__(self, connection: _Connection, operation_id: str) -> None:
        self._connection = connection
        self._id = operation_id

    async def open(self) -> None:
        return None

    async def send(self, payload: dict[str, Any], event_id: str | None) -> None:
        del event_id  # the operation's id is what names the event here
        data = orjson.dumps({"id": self._id, "payload": payload}).decode()
        self._connection.put(encode_event("next", data))

    async def finish(self, *, shutting_down: bool) -> None:
        if shutting_down:
            await self.send(shutdown_payload(), None)
        data = orjson.dumps({"id": self._id}).decode()
        self._connection.put(encode_event("complete", data))

    async def heartbeat(self) -> None:
        return None  # the connection's stream has its own

    def alive(self) -> bool:
        return True  # the connection's end cancels its operations itself

    def backlog(self) -> int:
        return 0


@dataclass(slots=True)
class SingleConnections:
    """Every reserved or open single-connection stream, by token."""

    registry: StreamRegistry
    heartbeat_interval: float = 30.0
    reservation_ttl: float = 30.0
    """Seconds a reservation waits for its stream to open."""
    max_per_client: int = 100
    connections: dict[str, _Connection] = field(default_factory=dict)

    def reserve(self, request: web.Request) -> web.Response:
        """``PUT``: a new token."""
        accept = request.headers.get("Accept", "*/*")
        if not any(t in accept for t in ("*/*", "text/*", "text/plain")):
            return _json_error(
                RequestError(
                    f"a reservation answers text/plain, not {accept!r}",
                    code="NOT_ACCEPTABLE",
                    status=406,
                )
            )
        client = client_key(request)
        held = sum(1 for c in self.connections.values() if c.client == client)
        if len(self.connections) >= self.registry.limits.max_streams:
            return _json_error(
                RequestError(
                    f"the gateway holds {len(self.connections)} event streams, "
                    "its limit",
                    code="TOO_MANY_STREAMS",
                    status=429,
                    headers={"Retry-After": "5"},
                )
            )
        if held >= self.max_per_client:
            return _json_error(
                RequestError(
                    f"this client holds {held} event streams, the limit",
                    code="TOO_MANY_STREAMS",
                    status=429,
                    headers={"Retry-After": "5"},
                )
            )
        token = secrets.token_urlsafe(24)
        connection = _Connection(token, client)
        self.connections[token] = connection
        loop = asyncio.get_running_loop()
        connection.expiry = loop.call_later(self.reservation_ttl, self._expire, token)
        return web.Response(status=201, text=token, content_type="text/plain")

    def _expire(self, token: str) -> None:
        connection = self.connections.get(token)
        if connection is not None and not connection.open:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        self.connections.pop(connection.token, None)
        if connection.expiry is not None:
            connection.expiry.cancel()
        for task in connection.operations.values():
            if task is not None:
                task.cancel()

    def _find(self, request: web.Request) -> _Connection:
        token = token_of(request)
        connection = self.connections.get(token) if token else None
        if connection is None:
            raise RequestError(
                "no event stream is reserved for this token; reserve one with PUT",
                code="STREAM_NOT_FOUND",
                status=404,
            )
        return connection

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``GET`` with the token: the connection's event stream."""
        try:
            connection = self._find(request)
        except RequestError as exc:
            return _json_error(exc)
        if connection.open:
            return _json_error(
                RequestError(
                    "the event stream of this token is already open",
                    code="STREAM_ALREADY_OPEN",
                    status=409,
                )
            )
        connection.open = True
        if connection.expiry is not None:
            connection.expiry.cancel()
            connection.expiry = None
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        try:
            await response.prepare(request)
            await response.write(HEARTBEAT)  # some browsers wait for a first byte
            while True:
                try:
                    frame = await asyncio.wait_for(
                        connection.frames.get(), self.heartbeat_interval
                    )
                except TimeoutError:
                    frame = HEARTBEAT
                if frame is None:
                    break
                await response.write(frame)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError) as exc:
            logger.debug("single connection client went away: %r", exc)
        finally:
            self._drop(connection)
        return response

    def start(
        self,
        request: web.Request,
        params: dict[str, Any] | None,
        events: Callable[[], AsyncIterator[StreamEvent]],
    ) -> web.Response:
        """``POST`` of a prepared operation: its events go to the connection."""
        connection = self._find(request)
        operation_id = (params or {}).get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            raise BadRequestError("'extensions.operationId' is missing")
        if operation_id in connection.operations:
            raise RequestError(
                f"an operation with id {operation_id!r} is already running",
                code="OPERATION_ID_IN_USE",
                status=409,
            )
        stream = self.registry.open(connection.client)
        encoder = OperationEncoder(connection, operation_id)

        async def run() -> None:
            try:
                await run_stream(
                    self.registry,
                    stream,
                    encoder,
                    events,
                    heartbeat_interval=self.heartbeat_interval,
                )
            except asyncio.CancelledError:
                pass  # stopped by DELETE or the stream's end: nothing more is sent
            except Exception:
                logger.exception("single connection operation failed")
            finally:
                connection.operations.pop(operation_id, None)
                connection.end_if_idle()

        task = asyncio.get_running_loop().create_task(run())
        stream.task = task
        connection.operations[operation_id] = task
        return web.Response(status=202)

    def stop(self, request: web.Request) -> web.Response:
        """``DELETE ?operationId=``: stop one operation (nothing more is sent)."""
        try:
            connection = self._find(request)
        except RequestError as exc:
            return _json_error(exc)
        operation_id = request.query.get("operationId")
        if not operation_id:
            return _json_error(
                BadRequestError("the 'operationId' parameter is missing")
            )
        task = connection.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()
        connection.end_if_idle()
        return web.Response(status=200)

    def shutdown(self) -> None:
        """End every stream once its operations have sent their last events (the
        registry's shutdown ends those)."""
        for connection in list(self.connections.values()):
            connection.closing = True
            if connection.open:
                connection.end_if_idle()
            else:
                self._drop(connection)

    async def close(self) -> None:
        """Cancel whatever is left (cleanup)."""
        tasks = [
            task
            for connection in self.connections.values()
            for task in connection.operations.values()
            if task is not None
        ]
        for connection in list(self.connections.values()):
            self._drop(connection)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
