"""A lean HTTP/1.1 client for subgraph POSTs: keep-alive pools, llhttp parsing (httptools).

aiohttp's ``ClientSession`` was about a quarter of the CPU of a light request through
the gateway (``scripts/bench``). Subgraph fetches need little of it: one method, small
headers, a bounded body, keep-alive. This client keeps one pool of idle connections per
origin (at most ``limit`` in use at once, the rest wait), writes each request in one
call, and parses the answer with httptools, the llhttp binding uvicorn uses.

What it does and does not do:
- Idle connections are kept up to 15 s (closed as later requests come back).
- ``http`` and ``https`` (the system's trust store) URLs; credentials in the URL are
  sent as Basic authorization; no proxies, cookies or redirects (a subgraph answering
  3xx is an HTTP error, as before).
- A body is read up to ``limit`` bytes: a larger one (by its ``Content-Length`` or by
  what arrived) raises ``TooLarge`` and the connection is closed, the rest unread.
- No ``Accept-Encoding`` is sent; a ``gzip`` or ``deflate`` answer is still decoded
  (within the limit), any other coding is a bad response.
- A request on a reused keep-alive connection that the server had closed (closed before
  any byte of the answer) is sent again on another connection, when the caller marks
  it idempotent (queries; never mutations).
- The deadline covers connecting, sending and the whole answer.

Errors are what the rest of the gateway maps (``gateway.transports.boundary``):
``TimeoutError``, ``OSError`` (refused, reset, closed early, TLS verification),
``BadResponse``, ``TooLarge``, ``InvalidRequest``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import httptools
from yarl import URL

__all__ = [
    "BadResponse",
    "HTTP1Client",
    "InvalidRequest",
    "Response",
    "TooLarge",
    "header_lines",
]

DEFAULT_LIMIT_PER_HOST = 256
MAX_HEAD_BYTES = 64 * 1024
"""The status line and headers of an answer may not be longer (a subgraph that
sends headers without end is refused, not buffered)."""
IDLE_SECONDS = 15.0
"""How long an idle keep-alive connection is kept (aiohttp's default too)."""
SWEEP_SECONDS = 0.05
"""How often the deadlines of answers awaited are checked: a fetch fails at most
this long after its deadline (one timer for all fetches, not one each)."""


class BadResponse(Exception):
    """The server's answer is not valid HTTP/1.1, or uses a coding we cannot read."""


class InvalidRequest(ValueError):
    """The request cannot be sent as asked (a header that would split lines, a URL
    that is not http(s))."""


class TooLarge(Exception):
    """The answer is over the caller's byte limit."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes


class _ClosedEarly(ConnectionResetError):
    """The connection ended before the answer did."""

    def __init__(self, received: bool) -> None:
        super().__init__("the connection closed before the response ended")
        self.received = received


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 token)."""


def header_lines(headers: Mapping[str, str]) -> bytes:
    """``headers`` as HTTP/1.1 header lines; ``InvalidRequest`` for a name or value
    with a line break or NUL (it would smuggle a header in)."""
    for name in headers:
        if not _TOKEN.fullmatch(name):
            raise InvalidRequest(f"not an HTTP header name: {name!r}")
    text = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    lines = len(headers)
    if text.count("\r") != lines or text.count("\n") != lines or "\0" in text:
        raise InvalidRequest("a line break or NUL in an HTTP header value")
    return text.encode("utf-8", "surrogateescape")


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("the subgraph did not answer in time"))


class _Deadlines:
    """The deadlines of the answers awaited, checked every ``SWEEP_SECONDS`` by one
    timer that runs while any is awaited. A timer per fetch (``call_at`` and its
    ``cancel``) was a few per cent of a fetch's CPU."""

    __slots__ = ("_loop", "_timer", "_waiting")

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[Response], float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(
        self,
        loop: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[Response],
        deadline: float,
    ) -> None:
        self._waiting[waiter] = deadline
        if self._timer is None or self._loop is not loop:  # (a client outlives a loop)
            self._loop = loop
            self._timer = loop.call_later(SWEEP_SECONDS, self._sweep, loop)

    def discard(self, waiter: asyncio.Future[Response]) -> None:
        self._waiting.pop(waiter, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # a timer of a loop the client left
        waiting = self._waiting
        now = loop.time()
        for waiter in [w for w, deadline in waiting.items() if deadline <= now]:
            del waiting[waiter]
            if waiter.get_loop() is loop:  # (else: left behind by a closed loop)
                _expire(waiter)
        self._timer = (
            loop.call_later(SWEEP_SECONDS, self._sweep, loop) if waiting else None
        )


class _Gate:
    """At most ``limit`` requests at once to an origin; the others wait in line.
    (``asyncio.Semaphore`` without a coroutine when a slot is free.)"""

    __slots__ = ("_waiters", "free")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def wait(self, deadline: float) -> None:
        """Wait for a slot (``free`` was 0) until ``deadline``."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while leaving: pass it on
            else:
                waiter.cancel()
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes to it as it is
                return
        self.free += 1


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._limit = 0
        self._reset()

    def _reset(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._content_type = b""
        self._encoding = b""
        self._status = 0
        self._received = False
        self._head_bytes = 0
        self._headers_done = False
        self._has_length = False
        self._chunked = False
        self.reusable = False

    # -- the caller's side -------------------------------------------------------

    def send(self, data: bytes, waiter: asyncio.Future[Response], limit: int) -> None:
        assert self.transport is not None
        self._reset()
        self._waiter = waiter
        self._limit = limit
        self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if (
            self._headers_done
            and not self._has_length
            and not self._chunked
            and exc is None
        ):
            # An answer without a length ends when the connection does.
            self.reusable = False
            waiter.set_result(self._response())
            return
        waiter.set_exception(_ClosedEarly(self._received))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.abort()  # bytes nobody asked for: the connection is unusable
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the server upgraded the connection"))
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised: our own reasons come first.
            cause = exc.__context__
            if isinstance(cause, TooLarge | BadResponse):
                self._fail(cause)
            else:
                self._fail(BadResponse(f"malformed HTTP response: {exc}"))
            return
        if not self._headers_done:  # all of it went to the status line and headers
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(BadResponse(f"response headers over {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        return False  # close; connection_lost finishes a length-less answer

    # -- httptools callbacks ----------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self._content_type = value
        elif name == b"content-length":
            self._has_length = True
            try:
                length = int(value)
            except ValueError:
                return  # llhttp rejects it
            if length > self._limit:
                raise TooLarge(f"announces {length} bytes")
        elif name == b"transfer-encoding":
            self._chunked = True
        elif name == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            raise TooLarge(f"sent more than {self._limit} bytes")
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._reset()  # an interim answer: the real one follows
            return
        waiter, self._waiter = self._waiter, None
        self.reusable = self._parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            try:
                waiter.set_result(self._response())
            except (BadResponse, TooLarge) as exc:
                self.reusable = False
                waiter.set_exception(exc)

    def _response(self) -> Response:
        body = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks = []
        if self._encoding and self._encoding != b"identity":
            body = self._decoded(body)
        return Response(self._status, self._content_type.decode("latin-1"), body)

    def _decoded(self, body: bytes) -> bytes:
        if self._encoding in (b"gzip", b"x-gzip"):
            wbits = 16 + zlib.MAX_WBITS
        elif self._encoding == b"deflate":
            wbits = zlib.MAX_WBITS
        else:
            raise BadResponse(
                f"unsupported content coding {self._encoding.decode('latin-1')!r}"
            )
        decoder = zlib.decompressobj(wbits)
        try:
            out = decoder.decompress(body, self._limit + 1)
        except zlib.error as exc:
            raise BadResponse(f"broken {self._encoding!r} body: {exc}") from None
        if len(out) > self._limit or decoder.unconsumed_tail:
            raise TooLarge(f"decodes to more than {self._limit} bytes")
        return out


class _Origin:
    """Where requests to one scheme://host:port go, and its idle connections."""

    def __init__(self, url: URL, limit: int) -> None:
        self.host = url.raw_host or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if url.scheme == "https" else None
        )
        self.idle: deque[_Connection] = deque()
        """Most recently used last: reused first, while the oldest age out."""
        self.slots = _Gate(limit)

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection,
            self.host,
            self.port,
            ssl=self.ssl,
            server_hostname=self.host if self.ssl else None,
        )
        return connection

    def release(self, connection: _Connection, now: float) -> None:
        """Keep ``connection`` for the next request; close those idle too long."""
        connection.idle_since = now
        idle = self.idle
        idle.append(connection)
        while idle and now - idle[0].idle_since > IDLE_SECONDS:
            idle.popleft().close()

    def close(self) -> None:
        idle, self.idle = self.idle, deque()
        for connection in idle:
            connection.close()


class _Target:
    """One URL, parsed once: its origin and the request head's fixed part."""

    __slots__ = ("head", "origin")

    def __init__(self, url: URL, origin: _Origin) -> None:
        self.origin = origin
        host = url.raw_host or ""
        if ":" in host:
            host = f"[{host}]"
        if url.explicit_port is not None and not url.is_default_port():
            host = f"{host}:{url.port}"
        head = f"POST {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host}\r\n"
        if url.user is not None:
            token = base64.b64encode(
                f"{url.user}:{url.password or ''}".encode()
            ).decode()
            head += f"Authorization: Basic {token}\r\n"
        self.head = head.encode("utf-8", "surrogateescape")


class HTTP1Client:
    """Keep-alive HTTP/1.1 POSTs; one instance per process is shared by every
    subgraph transport. ``close()`` drops the idle connections."""

    def __init__(self, *, limit_per_host: int = DEFAULT_LIMIT_PER_HOST) -> None:
        self._limit = limit_per_host
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._targets: dict[str, _Target] = {}
        self._closed = False
        self._deadlines = _Deadlines()

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parsed = URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.raw_host:
                raise InvalidRequest(f"not an http(s) URL: {url!r}")
            key = (parsed.scheme, parsed.raw_host, parsed.port or 0)
            origin = self._origins.get(key)
            if origin is None:
                origin = self._origins[key] = _Origin(parsed, self._limit)
            target = self._targets[url] = _Target(parsed, origin)
        return target

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        limit: int,
        idempotent: bool = False,
        fixed: bytes = b"",
    ) -> Response:
        """POST ``body`` with ``headers`` (Content-Length is added); the answer.
        ``fixed``: header lines the caller encoded once (``header_lines``)."""
        if self._closed:
            raise ConnectionError("the HTTP client is closed")
        target = self._target(url)
        lines = [target.head, fixed]
        if headers:
            lines.append(header_lines(headers))
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        data = b"".join(lines)
        origin = target.origin
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        deadlines = self._deadlines
        slots = origin.slots
        if slots.free:
            slots.free -= 1
        else:  # every connection to the origin is busy: wait in line
            try:
                await slots.wait(deadline)
            except TimeoutError:
                raise TimeoutError("no connection to the subgraph was free") from None
        try:
            # The exchange, in this coroutine (every fetch's path).
            while True:
                connection: _Connection | None = None
                idle = origin.idle
                while idle:
                    candidate = idle.pop()
                    if not candidate.closed:
                        connection = candidate
                        break
                reused = connection is not None
                if connection is None:
                    try:
                        async with asyncio.timeout_at(deadline):
                            connection = await origin.connect()
                    except TimeoutError:
                        raise TimeoutError(
                            "connecting to the subgraph timed out"
                        ) from None
                waiter: asyncio.Future[Response] = loop.create_future()
                # Not asyncio.timeout, nor a timer each: every fetch's hot path.
                deadlines.add(loop, waiter, deadline)
                connection.send(data, waiter, limit)
                try:
                    response = await waiter
                except _ClosedEarly as exc:
                    connection.abort()
                    if reused and idempotent and not exc.received:
                        continue  # the server had closed the idle connection
                    raise
                except BaseException:
                    connection.abort()  # cancelled, timed out, too large, malformed
                    raise
                finally:
                    deadlines.discard(waiter)
                if connection.reusable and not connection.closed and not self._closed:
                    origin.release(connection, loop.time())
                else:
                    connection.close()
                return response
        finally:
            slots.release()

    async def __aenter__(self) -> HTTP1Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        for origin in self._origins.values():
            origin.close()
        await asyncio.sleep(0)  # let the transports close
