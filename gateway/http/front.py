"""The HTTP/1.1 front: a fast lane for plain requests, aiohttp for everything else.

Every TCP connection of the gateway's listener starts here. The front parses each
request's head with httptools (llhttp, the parser of Node.js) and asks its ``Lane``
whether it takes the request. A request the lane takes (for the gateway: a plain
GraphQL POST, see ``gateway.http.app.GraphQLLane``) is answered here, without
aiohttp's request and response objects, which cost more CPU than the whole GraphQL
work of a small deduplicated query. The first request the lane does not take, or
that the front does not understand, hands the connection to aiohttp for good: its
protocol gets the connection and every byte from that request's first one on, so
aiohttp answers it exactly as if it had parsed the connection from the start. A
request llhttp cannot parse gets the lane's ``malformed`` answer (for the gateway, a
JSON 400 with ``extensions.code``) and the connection closes.

Handing off, never half-handling, is the rule for anything unusual:

- a head the lane refuses (another method or path, an ``Upgrade``, ``Origin``,
  ``Expect``, a chunked or compressed body, HTTP/1.0, ...);
- a second request in the same read as the first (pipelining): both go to aiohttp;
- a request that is not complete within ``COMPLETE_WITHIN`` seconds of its first
  byte, or whose head is larger than ``MAX_HEAD``: aiohttp applies its limits and
  the gateway's body timeout.

One request is answered at a time per connection, in order; what arrives meanwhile
waits (reading pauses past ``MAX_PENDING`` bytes, or while the transport's write
buffer is full). An idle connection closes after the keep-alive timeout, as
aiohttp's do; a client that goes away cancels its request, as with aiohttp's
``handler_cancellation``. At shutdown the listener closes, idle connections close,
and requests being answered finish (within the shutdown timeout) with
``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol, cast

import httptools
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "COMPLETE_WITHIN",
    "FRONT_LOGGER",
    "MAX_FIELD",
    "MAX_HEAD",
    "MAX_PENDING",
    "Front",
    "FrontProtocol",
    "FrontSite",
    "Lane",
    "Reply",
]

FRONT_LOGGER = "gateway.http.front"
logger = logging.getLogger(FRONT_LOGGER)

COMPLETE_WITHIN = 1.0
"""Seconds a request may take to arrive before aiohttp takes the connection over."""
MAX_HEAD = 16 * 1024
"""Bytes of request line and headers the front reads; a larger head goes to aiohttp
(which refuses heads over its own limits)."""
MAX_FIELD = 8190
"""The longest request target, header name or value the front reads (aiohttp's
``max_line_size`` and ``max_field_size``: longer ones get aiohttp's 400)."""
MAX_HEADERS = 100
"""Headers the front reads (aiohttp refuses more than 128)."""
MAX_PENDING = 256 * 1024
"""Bytes buffered while a request is answered before reading pauses."""


class Reply(NamedTuple):
    """A whole response."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False
    """The connection closes after this response."""


class Lane(Protocol):
    """What the front answers itself, and how."""

    def takes(
        self, method: bytes, url: bytes, headers: CIMultiDictProxy[str]
    ) -> Any | None:
        """A ticket for a request this lane answers (passed to ``answer``), or
        ``None``: aiohttp answers it. Called once the head is complete."""

    async def answer(
        self,
        ticket: Any,
        headers: CIMultiDictProxy[str],
        body: bytes,
        remote: str | None,
    ) -> Reply:
        """The response to a request ``takes`` took; must not raise."""

    def malformed(self, reason: str) -> Reply:
        """The response to a request that is not HTTP/1.1 (``reason``: llhttp's)."""


class _HandOff(Exception):
    """Raised inside a parser callback: aiohttp takes the connection from the
    current message on."""


_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode()


class _Clock:
    """The ``Date`` header, formatted once a second."""

    __slots__ = ("_header", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._header = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
            self._header = f"Date: {stamp}\r\n".encode()
        return self._header


class Front:
    """The listener's protocol factory: one ``FrontProtocol`` per connection, all
    sharing ``lane`` and handing off to ``aiohttp_server``."""

    def __init__(
        self,
        lane: Lane,
        aiohttp_server: Callable[[], asyncio.Protocol],
        *,
        keepalive_timeout: float,
    ) -> None:
        self.lane = lane
        self.aiohttp_server = aiohttp_server
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[FrontProtocol] = set()
        self.closing = False
        self.clock = _Clock()
        self.busy = 0
        """Requests being answered."""
        self.answered = 0
        """Requests the lane answered."""
        self.handoffs = 0
        """Connections handed to aiohttp."""
        self._quiet = asyncio.Event()
        self._quiet.set()

    def started(self) -> None:
        self.busy += 1
        self._quiet.clear()

    def finished(self) -> None:
        self.busy -= 1
        if not self.busy:
            self._quiet.set()

    def __call__(self) -> FrontProtocol:
        return FrontProtocol(self)

    async def quiet(self) -> None:
        """Return once no request is being answered."""
        await self._quiet.wait()

    def close_idle(self) -> None:
        """Stop: idle connections close now, busy ones after their response."""
        self.closing = True
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the requests being answered, then
        close what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.quiet()
        for connection in list(self.connections):
            connection.close()


class FrontProtocol(asyncio.Protocol):
    """One connection, until it closes or aiohttp takes it."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.raw = bytearray()
        """The bytes of the message being parsed, from its first one."""
        self.pending = bytearray()
        """Bytes that came while a request was being answered."""
        self._busy = False
        self.task: asyncio.Task[None] | None = None
        self.handed_off = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._ticket: Any = None
        self._request_headers: CIMultiDictProxy[str] | None = None
        self._complete = False
        self._keep_alive = True
        self._write_paused = False
        self._read_paused = False
        self._wait: asyncio.TimerHandle | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._activity = 0

    @property
    def busy(self) -> bool:
        """A request of this connection is being answered."""
        return self._busy

    @busy.setter
    def busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            if busy:
                self.front.started()
            else:
                self.front.finished()

    # -- connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, (list, tuple)):
            self.remote = str(peer[0])
        elif peer is not None:
            self.remote = str(peer)
        if self.front.closing:
            transport.close()
            return
        self.front.connections.add(self)
        self._went_idle()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.front.connections.discard(self)
        self._cancel_timers()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # the client went away: its request ends
        self.task = None
        self.busy = False
        self.transport = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        if not self.busy and self.pending and self.transport is not None:
            self._take_pending()

    def close(self) -> None:
        if self.transport is not None and not self.handed_off:
            self.transport.close()

    # -- reading ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.busy or self._write_paused:
            self.pending += data
            self._update_reading()
            return
        self._feed(data)

    def eof_received(self) -> bool:
        return False  # the client is done: close (a request in flight is cancelled)

    def _feed(self, data: bytes | bytearray) -> None:
        self.raw += data
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserCallbackError, httptools.HttpParserUpgrade):
            # Refused by the lane, pipelined, or an upgrade: aiohttp answers it as
            # it would have from the start.
            self._hand_off()
            return
        except httptools.HttpParserError as exc:
            self._malformed(exc)
            return
        if self._complete:
            self._start()
        elif self.raw:
            if len(self.raw) > MAX_HEAD and self._request_headers is None:
                self._hand_off()
            elif self._wait is None:
                self._wait = self.loop.call_later(COMPLETE_WITHIN, self._hand_off)

    def _take_pending(self) -> None:
        data = bytes(self.pending)
        self.pending.clear()
        self._update_reading()
        self._feed(data)

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.handed_off:
            return
        pause = self._write_paused or len(self.pending) > MAX_PENDING
        if pause != self._read_paused:
            self._read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # -- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise _HandOff  # a second request in the same read: pipelining
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._body = []
        self._request_headers = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > MAX_FIELD:
            raise _HandOff

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._head_bytes += len(name) + len(value)
        if (
            self._head_bytes > MAX_HEAD
            or len(self._headers) > MAX_HEADERS
            or len(value) > MAX_FIELD
            or len(name) > MAX_FIELD
        ):
            raise _HandOff

    def on_headers_complete(self) -> None:
        parser = self.parser
        if parser.get_http_version() != "1.1" or parser.should_upgrade():
            raise _HandOff
        headers = CIMultiDictProxy(
            CIMultiDict(
                [
                    (
                        name.decode("utf-8", "surrogateescape"),
                        value.decode("utf-8", "surrogateescape"),
                    )
                    for name, value in self._headers
                ]
            )
        )
        ticket = self.front.lane.takes(parser.get_method(), self._url, headers)
        if ticket is None:
            raise _HandOff
        self._ticket = ticket
        self._request_headers = headers

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete = True
        # llhttp forgets the message's flags once this callback returns.
        self._keep_alive = self.parser.should_keep_alive()

    def _malformed(self, exc: httptools.HttpParserError) -> None:
        """A request llhttp cannot parse: the lane's 400, and the connection closes
        (where the next request would begin is unknown). Logged as aiohttp's
        malformed requests are (``gateway.http.noise``: once a minute per kind)."""
        transport = self.transport
        if transport is None:
            return
        logger.error(
            "Error handling request from %s", self.remote or "a client", exc_info=exc
        )
        self._write(transport, self.front.lane.malformed(str(exc)), close=True)
        transport.close()

    # -- answering ----------------------------------------------------------------

    def _start(self) -> None:
        if self._wait is not None:
            self._wait.cancel()
            self._wait = None
        headers = self._request_headers
        assert headers is not None
        body = b"".join(self._body)
        keep_alive = self._keep_alive
        ticket = self._ticket
        self.raw.clear()
        self._complete = False
        self._body = []
        self._ticket = None
        self._request_headers = None
        self.busy = True
        self.front.answered += 1
        self.task = self.loop.create_task(
            self._answer(ticket, headers, body, keep_alive)
        )

    async def _answer(
        self,
        ticket: Any,
        headers: CIMultiDictProxy[str],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        try:
            reply = await self.front.lane.answer(ticket, headers, body, self.remote)
        except asyncio.CancelledError:
            self.busy = False
            raise
        except Exception:  # the lane's contract is not to raise; never hang
            logger.exception("the front's lane failed to answer")
            reply = Reply(
                500,
                "application/json",
                b'{"errors":[{"message":"Internal server error",'
                b'"extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}',
                close=True,
            )
        transport = self.transport
        self.busy = False
        self.task = None
        if transport is None or transport.is_closing():
            return
        close = reply.close or not keep_alive or self.front.closing
        self._write(transport, reply, close)
        if close:
            transport.close()
            return
        self._went_idle()
        if self.pending and not self._write_paused:
            self._take_pending()

    def _write(self, transport: asyncio.Transport, reply: Reply, close: bool) -> None:
        status = reply.status
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown")),
            b"Content-Type: %s; charset=utf-8\r\n" % reply.content_type.encode(),
            b"Content-Length: %d\r\n" % len(reply.body),
            self.front.clock.date(),
            _SERVER,
        ]
        for name, value in reply.headers:
            line = f"{name}: {value}"
            if "\r" in line or "\n" in line:
                continue  # never split a response (the lane's headers are its own)
            head.append(f"{line}\r\n".encode("latin-1", "replace"))
        if close:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        # One vectored write (uvloop and asyncio both gather writelines' buffers).
        transport.writelines((b"".join(head), reply.body))

    # -- idle connections ----------------------------------------------------------

    def _went_idle(self) -> None:
        """Count an answered request; the first arms the keep-alive check."""
        self._activity += 1
        if self._idle is None and self.front.keepalive_timeout > 0:
            self._idle = self.loop.call_later(
                self.front.keepalive_timeout, self._idle_check, self._activity
            )

    def _idle_check(self, activity: int) -> None:
        """Close a connection that answered nothing and received nothing for a
        whole keep-alive timeout (aiohttp's rule; a check per timeout, not a timer
        per request)."""
        self._idle = None
        if self.transport is None or self.handed_off:
            return
        if activity == self._activity and not (self.busy or self.raw or self.pending):
            self.transport.close()
            return
        self._idle = self.loop.call_later(
            self.front.keepalive_timeout, self._idle_check, self._activity
        )

    def _cancel_timers(self) -> None:
        for timer in (self._wait, self._idle):
            if timer is not None:
                timer.cancel()
        self._wait = self._idle = None

    # -- handing off ----------------------------------------------------------------

    def _hand_off(self) -> None:
        """aiohttp takes the connection, with every byte from the current message's
        first one on."""
        transport = self.transport
        if transport is None or self.handed_off or self.busy:
            return
        self.handed_off = True
        self.front.handoffs += 1
        self._cancel_timers()
        self.front.connections.discard(self)
        data = bytes(self.raw) + bytes(self.pending)
        self.raw.clear()
        self.pending.clear()
        protocol = self.front.aiohttp_server()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._write_paused:
            protocol.pause_writing()
        if self._read_paused:
            transport.resume_reading()
        if data:
            protocol.data_received(data)


class FrontSite(web.TCPSite):
    """A TCP site whose connections start at a ``Front`` (aiohttp's ``TCPSite``
    hands every connection to aiohttp). The runner's other work (signals, app
    start-up and cleanup, aiohttp's connections) is unchanged."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        *,
        lane: Lane,
        keepalive_timeout: float,
        shutdown_timeout: float,
    ) -> None:
        super().__init__(runner, host, port)
        self._lane = lane
        self._keepalive_timeout = keepalive_timeout
        self._drain_timeout = shutdown_timeout
        self.front: Front | None = None

    async def start(self) -> None:
        self._runner._reg_site(self)
        server = self._runner.server
        assert server is not None
        self.front = Front(
            self._lane, server, keepalive_timeout=self._keepalive_timeout
        )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.front, self._host, self._port)
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port

    async def stop(self) -> None:
        await super().stop()  # the listener closes
        if self.front is not None:
            self.front.close_idle()
            await self.front.drain(self._drain_timeout)
