"""Client event streams: one task per stream, shared heartbeats, shutdown
(gateway.http.streaming)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import CoroutineType
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

import gateway.http.streaming
from gateway.errors import TooManyStreamsError
from gateway.events import StreamEvent
from gateway.http.streaming import StreamLimits, StreamRegistry, stream_events
from gateway.sse import COMPLETE, HEARTBEAT, Event, SSEDecoder, encode_next
from tests.helpers.streams import read_until

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
REGISTRY = web.AppKey("registry", StreamRegistry)


class Source:
    """Events for the test's streams: one event, then nothing until closed."""

    def __init__(self) -> None:
        self.closed = 0
        self.release = asyncio.Event()

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            yield StreamEvent(None, {"data": {"n": 1}})
            await self.release.wait()
        finally:
            self.closed += 1


def make_app(
    source: Source,
    heartbeat_interval: float,
    on_open: Callable[[web.Application], Awaitable[None]] | None = None,
) -> web.Application:
    app = web.Application()
    app[REGISTRY] = StreamRegistry()

    async def handler(request: web.Request) -> web.StreamResponse:
        async def opened() -> None:
            if on_open is not None:
                await on_open(app)

        return await stream_events(
            request,
            app[REGISTRY],
            source.events,
            heartbeat_interval=heartbeat_interval,
            on_open=opened,
        )

    app.router.add_get("/stream", handler)
    return app


def runs_streaming_code(task: asyncio.Task[Any]) -> bool:
    """Whether a frame of gateway.http.streaming is in the task's chain of awaits."""
    awaited: Any = task.get_coro()
    while isinstance(awaited, CoroutineType):
        if awaited.cr_code.co_filename == gateway.http.streaming.__file__:
            return True
        awaited = awaited.cr_await
    return False


async def test_an_idle_stream_has_one_task_and_the_registry_sends_its_heartbeats(
    aiohttp_client: ClientFactory,
) -> None:
    source = Source()
    app = make_app(source, heartbeat_interval=0.05)
    client = await aiohttp_client(app)
    first = encode_next({"data": {"n": 1}}, "1")
    responses = [await client.get("/stream") for _ in range(3)]
    for response in responses:
        # Two heartbeats: the timer keeps beating after the first one.
        received = await read_until(response, first + HEARTBEAT + HEARTBEAT)
        assert received.startswith(first + HEARTBEAT)
    assert len(app[REGISTRY]) == 3
    streaming_tasks = [t for t in asyncio.all_tasks() if runs_streaming_code(t)]
    assert len(streaming_tasks) == 3, "one task per stream (its handler's)"
    source.release.set()
    for response in responses:
        assert (await response.read()).endswith(COMPLETE)
    assert source.closed == 3
    assert len(app[REGISTRY]) == 0


async def test_shutdown_ends_an_idle_stream_with_an_error_then_complete(
    aiohttp_client: ClientFactory,
) -> None:
    source = Source()
    app = make_app(source, heartbeat_interval=3600)
    client = await aiohttp_client(app)
    response = await client.get("/stream")
    received = await read_until(response, b'"n":1')
    app[REGISTRY].shutdown()
    received += await asyncio.wait_for(response.read(), 10)
    frames = SSEDecoder().feed(received)
    assert [f.event for f in frames if isinstance(f, Event)] == [
        "next",
        "next",
        "complete",
    ]
    last = frames[1]
    assert isinstance(last, Event)
    assert orjson.loads(last.data)["errors"][0]["extensions"]["code"] == (
        "SHUTTING_DOWN"
    )
    assert source.closed == 1
    assert len(app[REGISTRY]) == 0


async def test_shutdown_before_the_events_start_still_ends_with_an_error_then_complete(
    aiohttp_client: ClientFactory,
) -> None:
    source = Source()

    async def shut_down(app: web.Application) -> None:
        app[REGISTRY].shutdown()

    app = make_app(source, heartbeat_interval=3600, on_open=shut_down)
    client = await aiohttp_client(app)
    response = await client.get("/stream")
    received = await asyncio.wait_for(response.read(), 10)
    frames = SSEDecoder().feed(received)
    assert [f.event for f in frames if isinstance(f, Event)] == ["next", "complete"]
    first = frames[0]
    assert isinstance(first, Event)
    assert orjson.loads(first.data)["errors"][0]["extensions"]["code"] == (
        "SHUTTING_DOWN"
    )
    assert len(app[REGISTRY]) == 0


async def test_a_heartbeat_that_finds_the_client_gone_ends_the_stream() -> None:
    # Without handler cancellation, aiohttp leaves the handler of a closed
    # connection waiting: the next heartbeat must find out and end the stream.
    source = Source()
    app = make_app(source, heartbeat_interval=0.05)
    runner = web.AppRunner(app, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            response = await session.get(f"http://127.0.0.1:{port}/stream")
            await read_until(response, b'"n":1')
            response.close()
        for _ in range(200):
            if source.closed:
                break
            await asyncio.sleep(0.05)
        assert source.closed == 1
        assert len(app[REGISTRY]) == 0
    finally:
        await runner.cleanup()


class SlowToClose:
    """A source that never waits between events (a publish burst) and whose
    clean-up waits (an upstream that takes a while to close). Its stream's handler
    can only be suspended in a write, with the source at a ``yield``."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()
        self.closing = asyncio.Event()
        self.may_finish = asyncio.Event()
        self.closed = 0

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                yield StreamEvent(None, {"data": {"blob": "x" * 65536}})
                self.sent.set()
        finally:
            self.closing.set()
            await self.may_finish.wait()
            self.closed += 1


async def test_a_second_cancellation_while_the_source_closes_still_releases_the_stream(
    aiohttp_client: ClientFactory,
) -> None:
    source = SlowToClose()
    app = web.Application()
    app[REGISTRY] = StreamRegistry()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_events(
            request, app[REGISTRY], source.events, heartbeat_interval=3600
        )

    app.router.add_get("/stream", handler)
    client = await aiohttp_client(app)
    response = await client.get("/stream")  # and never read: writes block
    await asyncio.wait_for(source.sent.wait(), 10)
    [stream] = app[REGISTRY].streams
    task = stream.task
    assert task is not None
    task.cancel()  # the client went away while an event was being written
    await asyncio.wait_for(source.closing.wait(), 10)
    task.cancel()  # shutdown cancels it again while the source is closing
    await asyncio.wait([task], timeout=10)
    assert task.done()
    assert len(app[REGISTRY]) == 0 and not app[REGISTRY].per_client
    source.may_finish.set()  # the source still finishes closing, in its own task
    for _ in range(100):
        if source.closed:
            break
        await asyncio.sleep(0.01)
    assert source.closed == 1
    response.close()


async def test_streams_count_per_client_id_when_the_header_is_sent(
    aiohttp_client: ClientFactory,
) -> None:
    source = Source()
    app = web.Application()
    app[REGISTRY] = StreamRegistry(
        StreamLimits(max_streams=10, max_streams_per_client=1)
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await stream_events(
                request, app[REGISTRY], source.events, heartbeat_interval=3600
            )
        except TooManyStreamsError as exc:
            return web.json_response({"code": exc.code}, status=exc.status)

    app.router.add_get("/stream", handler)
    client = await aiohttp_client(app)
    first = await client.get("/stream", headers={"X-Client-Id": "tests-a"})
    await read_until(first, b'"n":1')
    same = await client.get("/stream", headers={"X-Client-Id": "tests-a"})
    assert same.status == 429
    other = await client.get("/stream", headers={"X-Client-Id": "tests-b"})
    await read_until(other, b'"n":1')
    anonymous = await client.get("/stream")
    await read_until(anonymous, b'"n":1')
    assert len(app[REGISTRY]) == 3
    source.release.set()
    for response in (first, other, anonymous):
        await response.read()
    assert len(app[REGISTRY]) == 0
