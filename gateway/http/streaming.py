"""One subscription core for every wire format: the stream loop and the SSE encoder.

``run_stream`` drives one client stream whatever its wire format: stream limits (in
total and per client address), heartbeats (one timer for all streams), shutdown, and
closing the event source whatever happens. A ``StreamEncoder`` writes the events in
one format: ``SSEEncoder`` here (graphql-sse's distinct connections mode), the
WebSocket protocols in ``gateway.http.websocket``.

SSE: one response per operation. Headers are flushed before the first event; each
result is an ``event: next`` frame with an ``id:``; the stream always ends with
``event: complete`` (after an error event when something failed); an idle stream gets
a heartbeat comment every ``heartbeat_interval`` seconds. Stream limits (in total and
per client: address and ``X-Client-Id``) answer 429 before anything is streamed. At shutdown every open
stream gets a last ``next`` whose error says so (``extensions.code: SHUTTING_DOWN``),
then ``complete``.

See https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md and
https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from gateway.errors import GatewayError, TooManyStreamsError
from gateway.events import StreamEvent
from gateway.masking import ErrorPolicy
from gateway.sse import COMPLETE, HEARTBEAT, encode_next

__all__ = [
    "CLIENT_ID_HEADER",
    "SSE_HEADERS",
    "SSEEncoder",
    "StreamEncoder",
    "StreamLimits",
    "StreamRegistry",
    "client_key",
    "last_event_id",
    "run_stream",
    "shutdown_payload",
    "stream_events",
]

logger = logging.getLogger("gateway.http.streaming")

_MASK = ErrorPolicy()

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


class StreamEncoder(Protocol):
    """How one stream's events reach its client in one wire format."""

    async def open(self) -> None:
        """Before the first event (SSE: the headers are flushed)."""
        ...

    async def send(self, payload: dict[str, Any], event_id: str | None) -> None:
        """One result (an error that ended the stream too)."""
        ...

    async def finish(self, *, shutting_down: bool) -> None:
        """The end of the stream, in this format's own words (shutdown or not)."""
        ...

    async def heartbeat(self) -> None:
        """Keep an idle stream alive."""
        ...

    def alive(self) -> bool:
        """False once the client's connection is closing."""
        ...

    def backlog(self) -> int:
        """Bytes written and not yet taken by the client."""
        ...


@dataclass(frozen=True, slots=True)
class StreamLimits:
    max_streams: int = 10_000
    max_streams_per_client: int = 100


class _State(enum.Enum):
    OPENING = "opening"
    """Registered; the events have not started (headers, ``on_open``)."""
    STREAMING = "streaming"
    """Sending events: heartbeats and shutdown apply."""
    CLOSING = "closing"
    """Shutdown asked it to end: the last frames follow."""
    GONE = "gone"
    """A heartbeat found the client gone."""
    DONE = "done"
    """The events ended; only the last frames remain to write."""


class _Stream:
    """One open client stream, as the registry sees it.

    Deliberately small, and with no task, future or timer of its own: thousands of
    idle streams each hold one. The handler's task is the only task of a stream;
    heartbeats come from the registry's one timer, and shutdown cancels the
    handler's task (the handler tells that cancellation apart by ``state``).
    """

    __slots__ = (
        "client",
        "encoder",
        "interval",
        "last_write",
        "state",
        "task",
    )

    def __init__(self, client: str) -> None:
        self.client = client
        self.task = asyncio.current_task()
        self.state = _State.OPENING
        self.encoder: StreamEncoder | None = None
        self.interval = 0.0
        self.last_write = 0.0

    def close(self) -> None:
        """Shutdown: end the stream (its handler sends the last frames)."""
        state = self.state
        if state is _State.OPENING:
            self.state = _State.CLOSING
        elif state is _State.STREAMING:
            self.state = _State.CLOSING
            if self.task is not None:
                self.task.cancel()

    def gone(self) -> None:
        """A heartbeat found the client gone: end the stream (no last frames)."""
        if self.state is _State.STREAMING:
            self.state = _State.GONE
            if self.task is not None:
                self.task.cancel()


@dataclass(slots=True)
class StreamRegistry:
    """Every open stream: limits, heartbeats and the shutdown signal.

    Heartbeats: one timer for all streams (not one per stream). When it fires it
    writes a heartbeat to every stream idle for its interval, then sleeps until the
    next one is due, at least a twentieth of the shortest interval later (so a
    heartbeat may come up to 5 % after its interval, never before it).
    """

    limits: StreamLimits = field(default_factory=StreamLimits)
    streams: set[_Stream] = field(default_factory=set)
    per_client: Counter[str] = field(default_factory=Counter)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _beats: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def open(self, client: str) -> _Stream:
        if len(self.streams) >= self.limits.max_streams:
            raise TooManyStreamsError(
                f"the gateway has {len(self.streams)} open streams, its limit",
                headers={"Retry-After": "5"},
            )
        if self.per_client[client] >= self.limits.max_streams_per_client:
            raise TooManyStreamsError(
                f"this client has {self.per_client[client]} open streams, the limit",
                headers={"Retry-After": "5"},
            )
        stream = _Stream(client)
        self.streams.add(stream)
        self.per_client[client] += 1
        return stream

    def start(self, stream: _Stream, encoder: StreamEncoder, interval: float) -> bool:
        """``stream`` sends events from now: heartbeats start. False if shutdown
        came first (the stream must then end at once)."""
        stream.encoder = encoder
        if stream.state is not _State.OPENING:
            return False
        stream.state = _State.STREAMING
        stream.interval = interval
        loop = asyncio.get_running_loop()
        stream.last_write = loop.time()
        self._arm(loop, stream.last_write + interval)
        return True

    def stop(self, stream: _Stream) -> _State:
        """The events of ``stream`` ended: no heartbeat or shutdown from now on.
        Returns the state it was in (``CLOSING``: shutdown ended it; ``GONE``: a
        heartbeat found the client gone)."""
        state = stream.state
        stream.state = _State.DONE
        return state

    def close(self, stream: _Stream) -> None:
        stream.state = _State.DONE
        stream.encoder = None
        stream.task = None
        self.streams.discard(stream)
        self.per_client[stream.client] -= 1
        if self.per_client[stream.client] <= 0:
            del self.per_client[stream.client]
        if not self.streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def shutdown(self) -> None:
        """Ask every open stream to end (each sends its last frames itself)."""
        for stream in list(self.streams):
            stream.close()

    def __len__(self) -> int:
        return len(self.streams)

    # -- heartbeats -----------------------------------------------------------------

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        due: list[_Stream] = []
        next_due = gap = math.inf
        for stream in self.streams:
            if stream.state is not _State.STREAMING:
                continue
            at = stream.last_write + stream.interval
            if at <= now:
                due.append(stream)
                at = now + stream.interval
            next_due = min(next_due, at)
            gap = min(gap, stream.interval / 20)
        if due:
            beat = asyncio.ensure_future(self._beat(due))
            self._beats.add(beat)
            beat.add_done_callback(self._beats.discard)
        if next_due < math.inf:
            self._arm(loop, max(next_due, now + gap))

    async def _beat(self, streams: list[_Stream]) -> None:
        loop = asyncio.get_running_loop()
        for stream in streams:
            # Re-checked: an event may have been written since the timer fired.
            if stream.state is not _State.STREAMING:
                continue
            if loop.time() - stream.last_write < stream.interval:
                continue
            encoder = stream.encoder
            if encoder is None or not encoder.alive():
                stream.gone()
                continue
            if encoder.backlog():
                # Data the client has not read yet is still queued: a heartbeat
                # would wait behind it (and must not hold up the others).
                stream.last_write = loop.time()
                continue
            try:
                stream.last_write = loop.time()
                await encoder.heartbeat()
            except (ConnectionResetError, ConnectionError, RuntimeError) as exc:
                logger.debug("heartbeat: client went away: %r", exc)
                stream.gone()


CLIENT_ID_HEADER = "X-Client-Id"
_CLIENT_ID_MAX = 128


def client_key(request: web.Request) -> str:
    """Who a stream counts against for ``max_streams_per_client``: the client's
    address, and its ``X-Client-Id`` header when it sends one (every local client
    shares 127.0.0.1, so a test harness or an app names itself to get its own
    share). The header cannot lift the total ``max_streams``."""
    remote = request.remote or "unknown"
    client_id = request.headers.get(CLIENT_ID_HEADER)
    if not client_id:
        return remote
    return f"{remote} {client_id[:_CLIENT_ID_MAX]}"


def last_event_id(request: web.Request) -> str | None:
    """The id a reconnecting client last saw: the ``Last-Event-ID`` header, or a
    ``lastEventId`` query parameter for EventSource polyfills that cannot set it."""
    value = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    return value or None


def shutdown_payload() -> dict[str, Any]:
    """The last event of a stream the server ends because it is shutting down."""
    error = GatewayError("the server is shutting down", code="SHUTTING_DOWN")
    return {"errors": [error.to_graphql()]}


class SSEEncoder:
    """graphql-sse's distinct connections mode: ``next`` frames with ids, a
    heartbeat comment, ``complete`` at the end (after a shutdown error if so)."""

    __slots__ = ("_request", "response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response = web.StreamResponse(status=200, headers=SSE_HEADERS)

    async def open(self) -> None:
        await self.response.prepare(self._request)

    async def send(self, payload: dict[str, Any], event_id: str | None) -> None:
        await self.response.write(encode_next(payload, event_id))

    async def finish(self, *, shutting_down: bool) -> None:
        if shutting_down:
            await self.response.write(encode_next(shutdown_payload()))
        await self.response.write(COMPLETE)
        await self.response.write_eof()

    async def heartbeat(self) -> None:
        await self.response.write(HEARTBEAT)

    def alive(self) -> bool:
        transport = self._request.transport
        return transport is not None and not transport.is_closing()

    def backlog(self) -> int:
        transport = self._request.transport
        return transport.get_write_buffer_size() if transport is not None else 0


async def run_stream(
    registry: StreamRegistry,
    stream: _Stream,
    encoder: StreamEncoder,
    events: Callable[[], AsyncIterator[StreamEvent]],
    *,
    heartbeat_interval: float,
    number_events: bool = True,
    on_open: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Send ``events()`` to the client through ``encoder``; ``stream`` comes from
    ``registry.open`` (which applies the limits) and is closed here.

    ``events`` is called after ``encoder.open()``, so start-up work (opening an
    upstream) happens with the client already connected. The iterator is closed in
    a ``finally`` whatever happens: completion, error, client disconnect (the task
    is cancelled; the cancellation goes on) or shutdown (``encoder.finish`` says so).

    An event without an id is numbered (1, 2, ...) unless ``number_events`` is
    false: then it is sent without one, which tells a client (the gateway, for a
    subgraph server) that the source cannot be resumed from it.

    The events are written by the calling task, in this frame (one task and no
    extra coroutine per stream); the registry writes heartbeats and, at shutdown,
    cancels that task, which then ends the stream in its format's words.
    """
    iterator: AsyncIterator[StreamEvent] | None = None
    loop = asyncio.get_running_loop()
    try:
        await encoder.open()
        if on_open is not None:
            await on_open()
        iterator = events()
        shutting_down = gone = False
        if registry.start(stream, encoder, heartbeat_interval):
            counter = 0
            try:
                try:
                    async for event in iterator:
                        counter += 1
                        event_id = event.id or (str(counter) if number_events else None)
                        stream.last_write = loop.time()
                        await encoder.send(event.payload, event_id)
                except GatewayError as exc:
                    # Every stream ends with complete, after the error that ended it.
                    await encoder.send({"errors": [exc.to_graphql()]}, None)
                except (ConnectionResetError, ConnectionError):
                    raise
                except Exception as exc:
                    # A bug: logged with a request id, which the client gets.
                    error = _MASK.unexpected(
                        exc, request_id=None, what="an event source"
                    )
                    await encoder.send({"errors": [error]}, None)
            except asyncio.CancelledError:
                state = registry.stop(stream)
                if state is _State.STREAMING:
                    raise  # the client went away (or stopped this operation)
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                gone = state is _State.GONE
                shutting_down = not gone
        else:
            shutting_down = True
        registry.stop(stream)
        if gone:
            logger.debug("client went away (found by a heartbeat)")
        else:
            await encoder.finish(shutting_down=shutting_down)
    except (ConnectionResetError, ConnectionError) as exc:
        logger.debug("client went away: %r", exc)
    finally:
        # The registry entry goes first, synchronously: nothing below (a second
        # cancellation while the source closes, an error of the source) can skip it.
        registry.close(stream)
        if iterator is not None:
            await _close_source(iterator)


async def stream_events(
    request: web.Request,
    registry: StreamRegistry,
    events: Callable[[], AsyncIterator[StreamEvent]],
    *,
    heartbeat_interval: float,
    number_events: bool = True,
    on_open: Callable[[], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Send ``events()`` to the client as an event stream (``run_stream`` with the
    SSE encoder). The limits answer 429 (``TooManyStreamsError``) before anything
    is streamed; ``on_open`` runs once the headers are flushed."""
    stream = registry.open(client_key(request))
    encoder = SSEEncoder(request)
    await run_stream(
        registry,
        stream,
        encoder,
        events,
        heartbeat_interval=heartbeat_interval,
        number_events=number_events,
        on_open=on_open,
    )
    return encoder.response


async def _close_source(iterator: AsyncIterator[StreamEvent]) -> None:
    """Close an event source; its upstream is released even if this task is
    cancelled (again) meanwhile: the close runs in a task of its own."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    closing = asyncio.ensure_future(aclose())
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        closing.add_done_callback(_log_close_error)
        raise
    except Exception:
        logger.debug("closing an event source failed", exc_info=True)


def _log_close_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("closing an event source failed", exc_info=task.exception())
