"""Hot reload of a real ``gateway serve``: files watched and SIGHUP, streams kept.

One gateway serves a remote ticker (its SDL from a file), an in-process clock and
products. While an SSE subscription to each is open, the files change: a field is
added (both streams go on), the clock is removed (its stream gets SCHEMA_RELOADED
then complete, its lifespan stops; the ticker's goes on), the SDL is broken (the
old supergraph keeps serving, /health/ready shows the error), then fixed.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.ticker import TICKER_SDL
from tests.helpers.processes import GatewayProcess, StartGateway, free_port
from tests.helpers.subgraphs import start_ticker, stop

HISTORY = "  history(topic: String!): [Message!]!\n"
assert HISTORY in TICKER_SDL
NO_HISTORY = TICKER_SDL.replace(HISTORY, "")


def write_config(path: Path, ticker_port: int, marker: Path, *, clock: bool) -> None:
    clock_entry = (
        "  - name: clock\n"
        "    module: tests.fixtures.clock:clock\n"
        f"    options: {{marker: {json.dumps(str(marker))}}}\n"
        if clock
        else ""
    )
    path.write_text(
        "subgraphs:\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        f"{clock_entry}"
        "  - name: ticker\n"
        f"    routing_url: http://127.0.0.1:{ticker_port}/graphql\n"
        "    schema:\n"
        "      file: ticker.graphql\n"
        "gateway:\n"
        "  watch: true\n"
    )


class Stream:
    """An SSE subscription read event by event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 20) -> tuple[str, dict[str, Any] | None]:
        event, data = "", ""
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            assert raw, "the stream ended without complete"
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and event:
                return event, json.loads(data) if data else None


async def post(
    session: aiohttp.ClientSession, gateway: GatewayProcess, query: str
) -> dict[str, Any]:
    async with session.post(gateway.url, json={"query": query}) as response:
        return await response.json()


async def health(
    session: aiohttp.ClientSession, gateway: GatewayProcess
) -> dict[str, Any]:
    async with session.get(f"{gateway.base}/health/ready") as response:
        assert response.status == 200
        return await response.json()


async def until(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    *,
    generation: int | None = None,
    failed: bool = False,
) -> dict[str, Any]:
    for _ in range(400):
        body = await health(session, gateway)
        reload = body["reload"]
        if generation is not None and reload["generation"] == generation:
            return body
        if failed and reload["errors"]:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reload seen:\n{gateway.output()}")


async def next_message(stream: Stream) -> int:
    event, data = await stream.next()
    assert event == "next", (event, data)
    assert data is not None and "errors" not in data, data
    return int(data["data"]["messages"]["seq"])


async def next_beat(stream: Stream) -> int:
    event, data = await stream.next()
    assert event == "next" and data is not None and "errors" not in data, data
    return int(data["data"]["beats"])


async def test_reload_keeps_streams_whose_fields_remain_and_ends_the_others(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    ticker_port = free_port()
    ticker = await start_ticker(ticker_port, tmp_path / "ticker.log")
    marker = tmp_path / "clock.log"
    sdl = tmp_path / "ticker.graphql"
    sdl.write_text(NO_HISTORY)
    config = tmp_path / "supergraph.yaml"
    write_config(config, ticker_port, marker, clock=True)
    try:
        gateway = await start_gateway(
            config, args=["--metrics-addr", f"127.0.0.1:{free_port()}"]
        )
        sse = {"Accept": "text/event-stream"}
        async with aiohttp.ClientSession() as session:
            first = await session.post(
                gateway.url,
                json={"query": 'subscription { messages(topic: "t") { seq } }'},
                headers=sse,
            )
            second = await session.post(
                gateway.url,
                json={"query": "subscription { beats(every: 0.05) }"},
                headers=sse,
            )
            messages, beats = Stream(first), Stream(second)
            assert await next_beat(beats) == 1
            publish = 'mutation { publish(topic: "t", text: "x") { seq } }'
            # The ticker's upstream is open once a publication comes through.
            while True:
                await post(session, gateway, publish)
                try:
                    seq = await asyncio.wait_for(next_message(messages), 0.5)
                    break
                except TimeoutError:
                    continue
            body = await post(session, gateway, '{ history(topic: "t") { seq } }')
            assert (
                body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            )

            # 1. A field is added to the ticker's SDL file: both streams go on.
            sdl.write_text(TICKER_SDL)
            await until(session, gateway, generation=2)
            body = await post(session, gateway, '{ history(topic: "t") { seq } }')
            assert "errors" not in body and body["data"]["history"]
            await post(session, gateway, publish)
            assert await next_message(messages) == seq + 1
            beat = await next_beat(beats)
            assert beat > 1

            # 2. The clock is removed: its stream ends, the ticker's goes on.
            write_config(config, ticker_port, marker, clock=False)
            await until(session, gateway, generation=3)
            while True:
                event, data = await beats.next()
                if event == "next" and data and "errors" in data:
                    break
            assert data["errors"][0]["extensions"]["code"] == "SCHEMA_RELOADED"
            assert await beats.next() == ("complete", None)
            assert marker.read_text().split() == ["started", "stopped"]
            await post(session, gateway, publish)
            assert await next_message(messages) == seq + 2

            # 3. The SDL is broken: the old supergraph keeps serving.
            sdl.write_text(TICKER_SDL.replace("type Message {", "type Message {{"))
            body = await until(session, gateway, failed=True)
            assert body["reload"]["generation"] == 3
            assert "ticker.graphql" in body["reload"]["errors"][0]
            body = await post(session, gateway, '{ history(topic: "t") { seq } }')
            assert "errors" not in body
            await post(session, gateway, publish)
            assert await next_message(messages) == seq + 3
            assert "reload failed; the previous supergraph keeps serving" in (
                gateway.output()
            )

            # 4. Fixed again; then SIGHUP reloads too.
            sdl.write_text(TICKER_SDL)
            body = await until(session, gateway, generation=4)
            assert body["reload"]["errors"] == []
            gateway.process.send_signal(signal.SIGHUP)
            await until(session, gateway, generation=5)
            await post(session, gateway, publish)
            assert await next_message(messages) == seq + 4
            first.close()
    finally:
        await stop(ticker)


async def test_a_polled_remote_subgraph_that_changes_its_schema_is_reloaded(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    port = free_port()
    ticker = await start_ticker(port, tmp_path / "ticker.log")
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "subgraphs:\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        "  - name: live\n"
        f"    routing_url: http://127.0.0.1:{port}/graphql\n"
        "gateway:\n"
        "  introspection_poll_interval: 200ms\n"
    )
    clock = None
    try:
        gateway = await start_gateway(
            config, args=["--metrics-addr", f"127.0.0.1:{free_port()}"]
        )
        async with aiohttp.ClientSession() as session:
            body = await post(session, gateway, "{ clockName }")
            assert (
                body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            )
            # Another server with another schema takes the subgraph's place.
            await stop(ticker)
            clock = await start_ticker(
                port, tmp_path / "clock.log", "tests.fixtures.clock"
            )
            await until(session, gateway, generation=2)
            assert await post(session, gateway, "{ clockName }") == {
                "data": {"clockName": "clock"}
            }
    finally:
        await stop(ticker)
        if clock is not None:
            await stop(clock)


async def test_a_websocket_subscription_whose_subgraph_is_removed_ends_on_sighup(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    config = tmp_path / "supergraph.yaml"
    base = "subgraphs:\n  - name: products\n    module: tests.fixtures.shop:products\n"
    config.write_text(
        base + "  - name: clock\n    module: tests.fixtures.clock:clock\n"
    )
    gateway = await start_gateway(
        config, args=["--metrics-addr", f"127.0.0.1:{free_port()}"]
    )
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            gateway.url, protocols=("graphql-transport-ws",)
        ) as ws:
            await ws.send_json({"type": "connection_init"})
            assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { beats(every: 0.05) }"},
                }
            )
            first = await ws.receive_json(timeout=10)
            assert first["type"] == "next" and first["payload"]["data"]["beats"] == 1
            config.write_text(base)
            gateway.process.send_signal(signal.SIGHUP)
            while True:
                message = await ws.receive_json(timeout=20)
                if message["type"] != "next" or "errors" in message["payload"]:
                    break
            assert message["type"] == "next", message
            error = message["payload"]["errors"][0]
            assert error["extensions"]["code"] == "SCHEMA_RELOADED"
            assert (await ws.receive_json(timeout=10)) == {
                "id": "1",
                "type": "complete",
            }
