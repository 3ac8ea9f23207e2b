"""Event-stream responses to clients: graphql-sse's distinct connections mode.

One SSE response per operation. Headers are flushed before the first event; each
result is an ``event: next`` frame with an ``id:``; the stream always ends with
``event: complete`` (after an error event when something failed); an idle stream gets
a heartbeat comment every ``heartbeat_interval`` seconds. Stream limits (in total and
per client address) answer 429 before anything is streamed. At shutdown every open
stream gets a last ``next`` whose error says so (``extensions.code: SHUTTING_DOWN``),
then ``complete``.

See https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md and
https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from gateway.errors import GatewayError, TooManyStreamsError
from gateway.sse import COMPLETE, HEARTBEAT, encode_next

__all__ = [
    "SSE_HEADERS",
    "StreamEvent",
    "StreamLimits",
    "StreamRegistry",
    "last_event_id",
    "stream_events",
]

logger = logging.getLogger("gateway.streaming")

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


class StreamEvent(NamedTuple):
    """One result to send: ``id`` becomes the SSE event id (``None``: numbered)."""

    id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    max_streams: int = 10_000
    max_streams_per_client: int = 100


class _Stream:
    """One open client stream, as the registry sees it."""

    __slots__ = ("__weakref__", "client", "closing")

    def __init__(self, client: str) -> None:
        self.client = client
        # A bare future, not an Event (and no task waiting on one): thousands of
        # idle streams each hold one.
        self.closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def close(self) -> None:
        if not self.closing.done():
            self.closing.set_result(None)


@dataclass(slots=True)
class StreamRegistry:
    """Every open stream: limits, and the shutdown signal."""

    limits: StreamLimits = field(default_factory=StreamLimits)
    streams: weakref.WeakSet[_Stream] = field(default_factory=weakref.WeakSet)
    per_client: Counter[str] = field(default_factory=Counter)

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

    def close(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        self.per_client[stream.client] -= 1
        if self.per_client[stream.client] <= 0:
            del self.per_client[stream.client]

    def shutdown(self) -> None:
        """Ask every open stream to end (each sends its last frames itself)."""
        for stream in list(self.streams):
            stream.close()

    def __len__(self) -> int:
        return len(self.streams)


def last_event_id(request: web.Request) -> str | None:
    """The id a reconnecting client last saw: the ``Last-Event-ID`` header, or a
    ``lastEventId`` query parameter for EventSource polyfills that cannot set it."""
    value = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    return value or None


def _shutdown_payload() -> dict[str, Any]:
    error = GatewayError("the server is shutting down", code="SHUTTING_DOWN")
    return {"errors": [error.to_graphql()]}


class _Sender:
    """Writes the events of one stream; runs as its own task, so the handler only
    wakes for heartbeats and shutdown, never per event."""

    __slots__ = ("last_write", "number_events", "response")

    def __init__(self, response: web.StreamResponse, number_events: bool) -> None:
        self.response = response
        self.number_events = number_events
        self.last_write = asyncio.get_running_loop().time()

    async def write(self, frame: bytes) -> None:
        self.last_write = asyncio.get_running_loop().time()
        await self.response.write(frame)

    async def send_all(self, iterator: AsyncIterator[StreamEvent]) -> None:
        counter = 0
        try:
            async for event in iterator:
                counter += 1
                event_id = event.id or (str(counter) if self.number_events else None)
                await self.write(encode_next(event.payload, event_id))
        except GatewayError as exc:
            # Every stream ends with complete, after the error that ended it.
            await self.write(encode_next({"errors": [exc.to_graphql()]}))
        except (ConnectionResetError, ConnectionError):
            raise
        except Exception:
            logger.exception("event source failed")
            error = GatewayError("the event source failed")
            await self.write(encode_next({"errors": [error.to_graphql()]}))


async def stream_events(
    request: web.Request,
    registry: StreamRegistry,
    events: Callable[[], AsyncIterator[StreamEvent]],
    *,
    heartbeat_interval: float,
    on_open: Callable[[], Awaitable[None]] | None = None,
    number_events: bool = True,
) -> web.StreamResponse:
    """Send ``events()`` to the client as an event stream.

    ``events`` is called after the headers are flushed, so start-up work (opening an
    upstream) happens with the client already connected. The iterator is closed in a
    ``finally`` whatever happens: completion, error, client disconnect (the handler is
    cancelled) or shutdown.

    An event without an id is numbered (1, 2, ...) unless ``number_events`` is
    false: then it is sent without ``id:``, which tells a client (the gateway, for
    a subgraph server) that the source cannot be resumed from it.
    """
    stream = registry.open(request.remote or "unknown")
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    iterator: AsyncIterator[StreamEvent] | None = None
    sending: asyncio.Task[None] | None = None
    try:
        await response.prepare(request)
        if on_open is not None:
            await on_open()
        iterator = events()
        sender = _Sender(response, number_events)
        sending = asyncio.ensure_future(sender.send_all(iterator))
        closer = stream.closing
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - sender.last_write
            wait = max(heartbeat_interval - idle, 0.0)
            await asyncio.wait(
                {sending, closer}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            if sending.done():
                sending.result()  # a write to a client that went away raises here
                break
            if closer.done():
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
                await response.write(encode_next(_shutdown_payload()))
                break
            if loop.time() - sender.last_write >= heartbeat_interval:
                await sender.write(HEARTBEAT)
        await response.write(COMPLETE)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError) as exc:
        logger.debug("client went away: %r", exc)
    finally:
        if sending is not None and not sending.done():
            sending.cancel()
            with contextlib.suppress(BaseException):
                await sending
        if iterator is not None:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        registry.close(stream)
    return response
