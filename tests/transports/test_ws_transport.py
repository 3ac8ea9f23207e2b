"""WSTransport against the standalone subgraph server and fake WebSocket subgraphs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphHTTPError,
    SubgraphStreamError,
    SubgraphTimeoutError,
)
from gateway.http.subgraph_app import create_subgraph_app
from gateway.transports.base import RequestContext, SubgraphRequest, SubgraphResult
from gateway.transports.ws import WSSubprotocol, WSTransport
from tests.fixtures.ticker import Ticker, ticker

ServerFactory = Callable[..., Awaitable[TestServer]]
MESSAGES = "subscription ($t: String!) { messages(topic: $t) { seq text } }"
TIMEOUT = 10.0


def request(
    query: str = MESSAGES,
    variables: dict[str, Any] | None = None,
    *,
    forward: dict[str, str] | None = None,
    last_event_id: str | None = None,
) -> SubgraphRequest:
    headers = CIMultiDict[str]()
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return SubgraphRequest(
        query=query,
        variables=variables if variables is not None else {"t": "a"},
        context=RequestContext(
            headers=CIMultiDictProxy(headers), forward={"ticker": forward or {}}
        ),
    )


async def next_result(results: AsyncIterator[SubgraphResult]) -> SubgraphResult:
    return await asyncio.wait_for(anext(results), TIMEOUT)


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


# -- against the standalone subgraph server ------------------------------------------


@pytest.fixture
async def ticker_server(
    aiohttp_server: ServerFactory,
) -> tuple[str, Ticker]:
    local = ticker({})
    assert local.context is not None
    state: Ticker = local.context(RequestContext())["ticker"]
    server = await aiohttp_server(create_subgraph_app(local, heartbeat_interval=0.2))
    return str(server.make_url("/graphql")), state


@pytest.mark.parametrize("subprotocol", ["auto", "graphql-transport-ws", "graphql-ws"])
async def test_a_subgraph_server_streams_results_with_their_ids_over_each_subprotocol(
    ticker_server: tuple[str, Ticker], subprotocol: WSSubprotocol
) -> None:
    url, state = ticker_server
    transport = WSTransport("ticker", url, subprotocol=subprotocol)
    results = transport.subscribe(request())
    pending = asyncio.ensure_future(next_result(results))
    await eventually(lambda: len(state.topic("a").listeners) == 1, "it subscribes")
    state.publish("a", "one")
    state.publish("a", "two")
    assert await pending == {
        "data": {"messages": {"seq": 1, "text": "one"}},
        "extensions": {"eventId": "1"},
    }
    assert (await next_result(results))["extensions"] == {"eventId": "2"}
    await results.aclose()  # type: ignore[attr-defined]
    await eventually(lambda: not state.topic("a").listeners, "the source closes")


async def test_a_resumed_upstream_replays_after_its_last_event_id(
    ticker_server: tuple[str, Ticker],
) -> None:
    url, state = ticker_server
    for text in ("one", "two", "three"):
        state.publish("a", text)
    transport = WSTransport("ticker", url)
    results = transport.subscribe(request(last_event_id="1"))
    assert (await next_result(results))["data"] == {
        "messages": {"seq": 2, "text": "two"}
    }
    assert (await next_result(results))["extensions"] == {"eventId": "3"}
    await results.aclose()  # type: ignore[attr-defined]


async def test_a_completed_source_completes_the_upstream(
    ticker_server: tuple[str, Ticker],
) -> None:
    url, _ = ticker_server
    transport = WSTransport("ticker", url, subprotocol="graphql-ws")
    results = [
        result
        async for result in transport.subscribe(
            request("subscription { count(to: 3) }", {})
        )
    ]
    assert [result["data"] for result in results] == [{"count": n} for n in (1, 2, 3)]


# -- faults, with fake WebSocket subgraphs -------------------------------------------


class FakeSubgraph:
    """A WebSocket subgraph whose behaviour after the subscribe is the test's."""

    def __init__(
        self,
        after_subscribe: Callable[[web.WebSocketResponse, str, Any], Awaitable[None]],
        *,
        protocols: tuple[str, ...] = ("graphql-transport-ws", "graphql-ws"),
        ack: bool = True,
    ) -> None:
        self.after_subscribe = after_subscribe
        self.protocols = protocols
        self.ack = ack
        self.upgrade_headers: CIMultiDictProxy[str] | None = None
        self.init_payload: Any = None
        self.received: list[dict[str, Any]] = []
        self.closed = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.upgrade_headers = request.headers
        ws = web.WebSocketResponse(protocols=self.protocols)
        await ws.prepare(request)
        try:
            async for message in ws:
                data = message.json()
                self.received.append(data)
                if data["type"] == "connection_init":
                    self.init_payload = data.get("payload")
                    if self.ack:
                        await ws.send_json({"type": "connection_ack"})
                elif data["type"] in ("subscribe", "start"):
                    await self.after_subscribe(ws, data["id"], data["payload"])
        finally:
            self.closed.set()
        return ws


async def serve(aiohttp_server: ServerFactory, fake: FakeSubgraph) -> str:
    app = web.Application()
    app.router.add_get("/graphql", fake.handler)
    server = await aiohttp_server(app)
    return str(server.make_url("/graphql"))


def next_message(ws: web.WebSocketResponse, op_id: str, n: int) -> dict[str, Any]:
    kind = "data" if ws.ws_protocol == "graphql-ws" else "next"
    return {"id": op_id, "type": kind, "payload": {"data": {"n": n}}}


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_an_upstream_that_drops_mid_stream_is_an_error(
    aiohttp_server: ServerFactory, subprotocol: WSSubprotocol
) -> None:
    async def drop(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        await ws.send_json(next_message(ws, op_id, 1))
        await asyncio.sleep(0.05)
        transport = ws._req.transport if ws._req is not None else None
        assert transport is not None
        transport.abort()  # the connection drops: no close frame

    url = await serve(aiohttp_server, FakeSubgraph(drop))
    results = WSTransport("ticker", url, subprotocol=subprotocol).subscribe(request())
    assert (await next_result(results))["data"] == {"n": 1}
    with pytest.raises(SubgraphBadResponseError, match="without 'complete'"):
        await next_result(results)


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_an_upstream_that_closes_without_complete_is_an_error(
    aiohttp_server: ServerFactory, subprotocol: WSSubprotocol
) -> None:
    async def close(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        await ws.send_json(next_message(ws, op_id, 1))
        await ws.close(code=1000, message=b"bye")

    url = await serve(aiohttp_server, FakeSubgraph(close))
    results = WSTransport("ticker", url, subprotocol=subprotocol).subscribe(request())
    assert (await next_result(results))["data"] == {"n": 1}
    with pytest.raises(SubgraphBadResponseError) as caught:
        await next_result(results)
    assert "without 'complete' with code 1000: bye" in str(caught.value)


async def test_an_upstream_that_never_acknowledges_times_out(
    aiohttp_server: ServerFactory,
) -> None:
    async def nothing(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        return None

    fake = FakeSubgraph(nothing, ack=False)
    url = await serve(aiohttp_server, fake)
    results = WSTransport("ticker", url, timeout=0.2).subscribe(request())
    with pytest.raises(SubgraphTimeoutError, match="did not acknowledge"):
        await next_result(results)
    await asyncio.wait_for(fake.closed.wait(), TIMEOUT)


async def test_an_upstream_that_never_completes_is_stopped_when_the_client_leaves(
    aiohttp_server: ServerFactory,
) -> None:
    async def one(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        await ws.send_json(next_message(ws, op_id, 1))

    fake = FakeSubgraph(one)
    url = await serve(aiohttp_server, fake)
    results = WSTransport("ticker", url, subprotocol="graphql-ws").subscribe(request())
    assert (await next_result(results))["data"] == {"n": 1}
    await results.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(fake.closed.wait(), TIMEOUT)
    kinds = [message["type"] for message in fake.received]
    assert kinds == ["connection_init", "start", "stop", "connection_terminate"]


@pytest.mark.parametrize(
    ("subprotocol", "payload"),
    [
        ("graphql-transport-ws", [{"message": "no such topic"}]),
        ("graphql-ws", {"message": "no such topic"}),
    ],
)
async def test_an_error_message_ends_the_stream_with_the_subgraphs_errors(
    aiohttp_server: ServerFactory, subprotocol: WSSubprotocol, payload: Any
) -> None:
    async def fail(ws: web.WebSocketResponse, op_id: str, _: Any) -> None:
        await ws.send_json({"id": op_id, "type": "error", "payload": payload})

    url = await serve(aiohttp_server, FakeSubgraph(fail))
    results = WSTransport("ticker", url, subprotocol=subprotocol).subscribe(request())
    with pytest.raises(SubgraphStreamError) as caught:
        await next_result(results)
    assert caught.value.graphql_errors() == [{"message": "no such topic"}]


async def test_forwarded_headers_go_on_the_upgrade_and_in_connection_init(
    aiohttp_server: ServerFactory,
) -> None:
    async def complete(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        await ws.send_json({"id": op_id, "type": "complete"})

    fake = FakeSubgraph(complete)
    url = await serve(aiohttp_server, fake)
    transport = WSTransport("ticker", url)
    forwarded = {"Authorization": "Bearer t"}
    sent = request(forward=forwarded, last_event_id="9")
    assert [result async for result in transport.subscribe(sent)] == []
    assert fake.upgrade_headers is not None
    assert fake.upgrade_headers["Authorization"] == "Bearer t"
    assert fake.upgrade_headers["Last-Event-ID"] == "9"
    assert fake.upgrade_headers["Sec-WebSocket-Protocol"] == (
        "graphql-transport-ws,graphql-ws"
    )
    assert fake.init_payload == {"headers": forwarded}
    subscribe = fake.received[1]
    assert subscribe["payload"] == {"query": MESSAGES, "variables": {"t": "a"}}


async def test_an_upstream_that_refuses_the_upgrade_keeps_its_status(
    aiohttp_server: ServerFactory,
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"errors": [{"message": "no"}]}, status=401)

    app = web.Application()
    app.router.add_get("/graphql", refuse)
    server = await aiohttp_server(app)
    results = WSTransport("ticker", str(server.make_url("/graphql"))).subscribe(
        request()
    )
    with pytest.raises(SubgraphHTTPError) as caught:
        await next_result(results)
    assert caught.value.status == 401


async def test_an_upstream_that_picks_no_subprotocol_is_an_error(
    aiohttp_server: ServerFactory,
) -> None:
    async def nothing(ws: web.WebSocketResponse, op_id: str, payload: Any) -> None:
        return None

    url = await serve(aiohttp_server, FakeSubgraph(nothing, protocols=()))
    results = WSTransport("ticker", url).subscribe(request())
    with pytest.raises(SubgraphBadResponseError, match="accepted none"):
        await next_result(results)


async def test_a_session_of_its_own_is_closed_with_the_last_subscription(
    ticker_server: tuple[str, Ticker],
) -> None:
    url, _ = ticker_server
    transport = WSTransport("ticker", url)
    results = [
        r
        async for r in transport.subscribe(request("subscription { count(to: 1) }", {}))
    ]
    assert len(results) == 1
    assert transport._own_session is None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session
