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
from gateway.events import StreamEvent
from gateway.http.streaming import StreamRegistry, stream_events
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
