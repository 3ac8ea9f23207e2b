"""Subscriptions through the real ``gateway serve`` process, over SSE, end to end.

Clients: curl, an EventSource-style GET, the graphql-sse npm client, and aiohttp.
Sources: the in-process ticker (``tests.fixtures.ticker``), the same ticker as its own
server process (a remote SSE subgraph), and a fake upstream in this process for faults.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.sse import COMPLETE, Comment, Event, SSEDecoder, encode_next
from tests.fixtures.ticker import TICKER_SDL
from tests.helpers.processes import ROOT, GatewayProcess, StartGateway, free_port
from tests.helpers.ticker import config, eventually, graphql, listeners, publish

SSE = {"Accept": "text/event-stream"}
MESSAGES = (
    "subscription ($t: String!) { messages(topic: $t) { seq text product { name } } }"
)
COUNT = "subscription ($to: Int!, $every: Float) { count(to: $to, every: $every) }"
TIMEOUT = 10.0


class Stream:
    """An SSE response read event by event (comments counted as heartbeats)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.decoder = SSEDecoder(dispatch_empty=True)
        self.ready: list[Event] = []
        self.heartbeats = 0

    async def next(self) -> Event:
        while not self.ready:
            chunk = await asyncio.wait_for(self.response.content.readany(), TIMEOUT)
            if not chunk:
                raise EOFError("the stream ended")
            for item in self.decoder.feed(chunk):
                if isinstance(item, Comment):
                    self.heartbeats += 1
                else:
                    self.ready.append(item)
        return self.ready.pop(0)

    async def payload(self) -> tuple[str, dict[str, Any]]:
        event = await self.next()
        assert event.event == "next", event
        return event.id, json.loads(event.data)

    async def rest(self) -> list[Event]:
        """Every event up to and including ``complete``."""
        events = []
        while True:
            event = await self.next()
            events.append(event)
            if event.event == "complete":
                return events

    def close(self) -> None:
        self.response.close()


async def subscribe(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    params: dict[str, str] | None = None,
) -> Stream:
    if method == "GET":
        query_params = {"query": query, **(params or {})}
        if variables is not None:
            query_params["variables"] = json.dumps(variables)
        response = await session.get(
            gateway.url, params=query_params, headers={**SSE, **(headers or {})}
        )
    else:
        response = await session.post(
            gateway.url,
            params=params,
            json={"query": query, "variables": variables or {}},
            headers={**SSE, **(headers or {})},
        )
    assert response.status == 200, await response.text()
    return Stream(response)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as session:
        yield session


async def run(*argv: str, timeout: float = 30) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# -- clients ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_sees_headers_next_frames_with_ids_heartbeats_and_complete(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway(config(tmp_path, heartbeat_interval=0.05))
    body = json.dumps({"query": COUNT, "variables": {"to": 3, "every": 0.3}})
    code, out, err = await run(
        "curl", "-N", "-s", "-i", "-X", "POST", gateway.url,
        "-H", "Accept: text/event-stream", "-H", "Content-Type: application/json",
        "-d", body,
    )  # fmt: skip
    assert code == 0, err
    head, _, stream = out.replace("\r\n", "\n").partition("\n\n")
    head = head.lower()
    assert head.startswith("http/1.1 200")
    assert "content-type: text/event-stream" in head
    assert "cache-control: no-cache" in head
    assert "x-accel-buffering: no" in head
    assert ":\n\n" in stream, "heartbeats while the source is idle"
    frames = [frame for frame in stream.split("\n\n") if frame and frame != ":"]
    assert frames == [
        'event: next\nid: 1\ndata: {"data":{"count":1}}',
        'event: next\nid: 2\ndata: {"data":{"count":2}}',
        'event: next\nid: 3\ndata: {"data":{"count":3}}',
        "event: complete\ndata: ",
    ]
    assert stream.endswith("event: complete\ndata: \n\n")


async def test_get_request_as_eventsource_sends_it_streams_a_subscription(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    stream = await subscribe(session, gateway, COUNT, {"to": 2}, method="GET")
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert await stream.payload() == ("1", {"data": {"count": 1}})
    assert await stream.payload() == ("2", {"data": {"count": 2}})
    assert [event.event for event in await stream.rest()] == ["complete"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_graphql_sse_client_gets_every_result_then_completes(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    if not (ROOT / "tests" / "node" / "node_modules" / "graphql-sse").is_dir():
        pytest.skip("graphql-sse is not installed (scripts/lib/node-deps.sh)")
    gateway = await start_gateway(config(tmp_path))
    code, out, err = await run(
        "node",
        str(ROOT / "tests" / "e2e" / "sse_client.mjs"),
        gateway.url,
        COUNT,
        json.dumps({"to": 3}),
    )
    assert code == 0, err + out
    assert [json.loads(line) for line in out.splitlines()] == [
        {"data": {"count": 1}},
        {"data": {"count": 2}},
        {"data": {"count": 3}},
        {"complete": True},
    ]


# -- resume ----------------------------------------------------------------------------


async def test_in_process_resume_with_last_event_id_delivers_exactly_the_missed_events(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    first = await subscribe(session, gateway, MESSAGES, {"t": "r"})
    await eventually(lambda: _has(session, gateway, "r", 1), "the subscriber listens")
    await publish(session, gateway, "r", "a", "b", "c")
    seen = [await first.payload() for _ in range(3)]
    assert [payload["data"]["messages"]["text"] for _, payload in seen] == [
        "a",
        "b",
        "c",
    ]
    assert seen[0][1]["data"]["messages"]["product"] == {"name": "Product 1"}
    first.close()
    await eventually(lambda: _has(session, gateway, "r", 0), "the upstream is closed")
    await publish(session, gateway, "r", "d", "e")
    # EventSource polyfills send the id as a query parameter.
    again = await subscribe(
        session,
        gateway,
        MESSAGES,
        {"t": "r"},
        params={"lastEventId": seen[-1][0]},
    )
    missed = [await again.payload() for _ in range(2)]
    assert [payload["data"]["messages"]["text"] for _, payload in missed] == ["d", "e"]
    assert [event_id for event_id, _ in missed] == [
        str(int(seen[-1][0]) + 1),
        str(int(seen[-1][0]) + 2),
    ]
    await publish(session, gateway, "r", "f")
    _, live = await again.payload()
    assert live["data"]["messages"]["text"] == "f"
    again.close()


async def _has(
    session: aiohttp.ClientSession, gateway: GatewayProcess, topic: str, n: int
) -> bool:
    return await listeners(session, gateway, topic) == n


async def test_a_source_that_cannot_replay_restarts_and_says_so(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    stream = await subscribe(
        session, gateway, COUNT, {"to": 2}, headers={"Last-Event-ID": "2"}
    )
    event_id, first = await stream.payload()
    assert event_id == "1"
    assert first["data"] == {"count": 1}
    assert first["extensions"]["stream"]["resumed"] is False
    assert await stream.payload() == ("2", {"data": {"count": 2}})
    assert [event.event for event in await stream.rest()] == ["complete"]


# -- a remote SSE subgraph -------------------------------------------------------------


@pytest.fixture
async def remote_ticker(tmp_path: Path) -> AsyncIterator[str]:
    """The ticker as its own server process; yields its GraphQL URL."""
    port = free_port()
    log = tmp_path / "ticker.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fixtures.ticker", "--port", str(port),
            "--heartbeat-interval", "0.2",
            cwd=str(ROOT), stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"ticker did not start:\n{log.read_text()}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("protocol", ["sse", "sse_post"])
async def test_remote_sse_subgraph_streams_joins_entities_and_resumes(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    remote_ticker: str,
    protocol: str,
) -> None:
    entry = (
        f"routing_url: {remote_ticker}\n"
        f"subscription:\n  url: {remote_ticker}/stream\n  protocol: {protocol}"
    )
    gateway = await start_gateway(config(tmp_path, entry))
    first = await subscribe(session, gateway, MESSAGES, {"t": "x"})
    await eventually(lambda: _has(session, gateway, "x", 1), "the subscriber listens")
    await publish(session, gateway, "x", "a", "b")
    seen = [await first.payload() for _ in range(2)]
    assert seen[0][1] == {
        "data": {
            "messages": {"seq": int(seen[0][0]), "text": "a", "product": {
                "name": "Product 1"
            }}
        }
    }  # fmt: skip
    first.close()
    await eventually(lambda: _has(session, gateway, "x", 0), "the upstream is closed")
    await publish(session, gateway, "x", "c")
    again = await subscribe(
        session, gateway, MESSAGES, {"t": "x"}, headers={"Last-Event-ID": seen[-1][0]}
    )
    event_id, missed = await again.payload()
    assert missed["data"]["messages"]["text"] == "c"
    assert event_id == str(int(seen[-1][0]) + 1)
    again.close()
    # A remote source without ids cannot replay either: the gateway says so.
    counted = await subscribe(
        session, gateway, COUNT, {"to": 1}, headers={"Last-Event-ID": "9"}
    )
    _, first_count = await counted.payload()
    assert first_count["extensions"]["stream"]["resumed"] is False
    assert [event.event for event in await counted.rest()] == ["complete"]


# -- faults (a fake upstream in this process) ------------------------------------------


class FakeUpstream:
    """A remote ticker that misbehaves as the topic says: ``drop`` (one event, then
    the connection is cut), ``401``, ``hang`` (one event, then silence, never
    ``complete``). Counts open streams."""

    def __init__(self) -> None:
        self.open = 0
        self.opened = 0
        self.closed = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        variables = json.loads(request.query.get("variables") or "{}")
        topic = str(next(iter(variables.values()), ""))
        if topic.startswith("401"):
            return web.json_response(
                {"errors": [{"message": "who are you?"}]}, status=401
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        self.open += 1
        self.opened += 1
        try:
            await response.prepare(request)
            event = {"data": {"messages": {"seq": 1, "text": topic, "product": None}}}
            await response.write(encode_next(event, id=1))
            if topic.startswith("drop"):
                assert request.transport is not None
                request.transport.close()
                return response
            if topic.startswith("complete"):
                await response.write(COMPLETE)
                return response
            await asyncio.Event().wait()
            return response
        finally:
            self.open -= 1
            self.closed.set()


@pytest.fixture
async def fake_upstream() -> AsyncIterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    app = web.Application()
    app.router.add_get("/graphql", fake.handler)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield fake, f"http://127.0.0.1:{port}/graphql"
    finally:
        await runner.cleanup()


@pytest.fixture
async def faulty_gateway(
    start_gateway: StartGateway,
    tmp_path: Path,
    fake_upstream: tuple[FakeUpstream, str],
) -> tuple[GatewayProcess, FakeUpstream]:
    fake, url = fake_upstream
    sdl = tmp_path / "ticker.graphql"
    sdl.write_text(TICKER_SDL)
    entry = f"routing_url: {url}\nschema:\n  file: {sdl}"
    gateway = await start_gateway(config(tmp_path, entry, max_streams_per_client=40))
    return gateway, fake


async def test_upstream_dropping_mid_stream_is_an_error_then_complete(
    faulty_gateway: tuple[GatewayProcess, FakeUpstream],
    session: aiohttp.ClientSession,
) -> None:
    gateway, _ = faulty_gateway
    stream = await subscribe(session, gateway, MESSAGES, {"t": "drop"})
    event_id, first = await stream.payload()
    assert (event_id, first["data"]["messages"]["text"]) == ("1", "drop")
    last = await stream.rest()
    assert [event.event for event in last] == ["next", "complete"]
    error = json.loads(last[0].data)["errors"][0]
    assert error["extensions"]["serviceName"] == "ticker"
    assert error["extensions"]["code"].startswith("SUBGRAPH_")


async def test_upstream_401_is_an_error_with_its_status_then_complete(
    faulty_gateway: tuple[GatewayProcess, FakeUpstream],
    session: aiohttp.ClientSession,
) -> None:
    gateway, _ = faulty_gateway
    stream = await subscribe(session, gateway, MESSAGES, {"t": "401"})
    events = await stream.rest()
    assert [event.event for event in events] == ["next", "complete"]
    [error] = json.loads(events[0].data)["errors"]
    assert error["extensions"]["code"] == "SUBGRAPH_HTTP_ERROR"
    assert error["extensions"]["http"] == {"status": 401}


async def test_client_disconnect_closes_an_upstream_that_never_completes(
    faulty_gateway: tuple[GatewayProcess, FakeUpstream],
    session: aiohttp.ClientSession,
) -> None:
    gateway, fake = faulty_gateway
    stream = await subscribe(session, gateway, MESSAGES, {"t": "hang"})
    await stream.payload()
    assert fake.open == 1
    fake.closed.clear()
    stream.close()
    await asyncio.wait_for(fake.closed.wait(), 5)
    assert fake.open == 0


async def test_many_subscribe_disconnect_cycles_leave_no_upstream_open(
    faulty_gateway: tuple[GatewayProcess, FakeUpstream],
    session: aiohttp.ClientSession,
) -> None:
    gateway, fake = faulty_gateway

    async def cycle(i: int) -> None:
        stream = await subscribe(session, gateway, MESSAGES, {"t": f"hang{i}"})
        await stream.payload()
        stream.close()

    for batch in range(10):
        await asyncio.gather(*(cycle(batch * 20 + i) for i in range(20)))

    async def all_closed() -> bool:
        return fake.open == 0

    await eventually(all_closed, "every upstream closed")
    assert fake.opened == 200
    # The gateway's stream slots came back too: the per-client limit (40) holds
    # as many streams as before.
    streams = [
        await subscribe(session, gateway, MESSAGES, {"t": "complete"})
        for _ in range(40)
    ]
    for stream in streams:
        assert [event.event for event in await stream.rest()][-1] == "complete"


# -- load and lifetime -----------------------------------------------------------------


async def test_a_slow_client_is_ended_while_the_others_get_every_event(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    query = 'subscription { messages(topic: "s") { seq text } }'
    body = orjson.dumps({"query": query})
    # A client that sends its request, then reads nothing for a while.
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, 65536
    )
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    await writer.drain()
    fast = await subscribe(session, gateway, query)
    await eventually(lambda: _has(session, gateway, "s", 1), "both share a source")
    count = 4000
    await graphql(
        session,
        gateway,
        'mutation { burst(topic: "s", count: 4000, size: 4000) }',
    )
    ids = [(await fast.payload())[0] for _ in range(count)]
    assert len(set(ids)) == count
    fast.close()

    # Now the slow client reads: what it got, then the error that ended it.
    async def read_to_the_end() -> bytes:
        received = b""
        # (Raw HTTP/1.1: the body is chunked, so frames are not the last bytes.)
        while b"event: complete\ndata: \n\n" not in received:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            received += chunk
        return received

    received = await asyncio.wait_for(read_to_the_end(), 30)
    writer.close()
    events, _, after = received.partition(b"event: complete\ndata: \n\n")
    last_next = events.rsplit(b"event: next", 1)[-1]
    assert b'"SUBSCRIBER_TOO_SLOW"' in last_next
    assert b"event: next" not in after
    assert events.count(b"event: next") < count


async def test_streams_past_the_per_client_limit_get_429(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path, max_streams_per_client=2))
    query = 'subscription { messages(topic: "l") { seq } }'
    open_streams = [await subscribe(session, gateway, query) for _ in range(2)]
    async with session.post(
        gateway.url, json={"query": query}, headers=SSE
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"]
        body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_STREAMS"
    open_streams[0].close()

    async def slot_is_free() -> bool:
        async with session.post(
            gateway.url, json={"query": query}, headers=SSE
        ) as response:
            return response.status == 200

    await eventually(slot_is_free, "the closed stream's slot is free again")
    open_streams[1].close()


async def test_sigterm_ends_streams_with_shutting_down_then_complete_and_exits(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    stream = await subscribe(session, gateway, COUNT, {"to": 100, "every": 1.0})
    await stream.payload()
    gateway.process.send_signal(signal.SIGTERM)
    last = await stream.rest()
    assert [event.event for event in last] == ["next", "complete"]
    [error] = json.loads(last[0].data)["errors"]
    assert error["extensions"]["code"] == "SHUTTING_DOWN"
    assert await asyncio.wait_for(gateway.process.wait(), 5) == 0
