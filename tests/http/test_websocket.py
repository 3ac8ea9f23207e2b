"""GraphQL over WebSocket at the gateway's GraphQL path (gateway.http.websocket):
graphql-transport-ws and the legacy graphql-ws, with raw frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.config import load_config
from gateway.events import StreamEvent
from gateway.http.app import STATE, create_app
from gateway.http.streaming import StreamLimits, StreamRegistry
from gateway.http.subgraph_app import create_subgraph_app
from gateway.http.websocket import (
    SocketOptions,
    Sockets,
    init_headers,
    serve_websocket,
)
from gateway.operation import GraphQLRequest
from gateway.transports.base import RequestContext
from tests.fixtures.ticker import TICKER_SDL, ticker

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
MESSAGES = "subscription ($t: String!) { messages(topic: $t) { seq text } }"
PUBLISH = "mutation ($t: String!, $x: String!) { publish(topic: $t, text: $x) { seq } }"
LISTENERS = "query ($t: String!) { listeners(topic: $t) }"
TIMEOUT = 10.0


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "supergraph.yaml"
    path.write_text(
        "version: 1\nsubgraphs:\n"
        "  - name: ticker\n    module: tests.fixtures.ticker:ticker\n"
        "  - name: products\n    module: tests.fixtures.shop:products\n"
        "gateway:\n  max_streams_per_client: 3\n" + extra
    )
    return path


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(load_config(write_config(tmp_path)))
    )
    return client


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = message.json()
    return data


async def receive_skipping(
    ws: aiohttp.ClientWebSocketResponse, *ignored: str
) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if message["type"] not in ignored:
            return message


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    message = await asyncio.wait_for(ws.receive(), TIMEOUT)
    while message.type == aiohttp.WSMsgType.TEXT:
        message = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    if message.type == aiohttp.WSMsgType.CLOSE:
        return int(message.data)  # the code the server sent
    return ws.close_code


async def connect(
    client: TestClient[Any, Any],
    protocol: str = TRANSPORT_WS,
    payload: dict[str, Any] | None = None,
    **kwargs: Any,
) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/graphql", protocols=(protocol,), **kwargs)
    assert ws.protocol == protocol
    init: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        init["payload"] = payload
    await ws.send_json(init)
    ack = await receive(ws)
    assert ack["type"] == "connection_ack"
    if protocol == LEGACY_WS:
        assert (await receive(ws))["type"] == "ka"
    return ws


async def post(
    client: TestClient[Any, Any], query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}
    )
    body: dict[str, Any] = await response.json()
    assert "errors" not in body, body
    return body["data"]


async def eventually(check: Callable[[], Any], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def listeners(client: TestClient[Any, Any], topic: str) -> int:
    return int((await post(client, LISTENERS, {"t": topic}))["listeners"])


def listening(
    client: TestClient[Any, Any], topic: str, count: int
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await listeners(client, topic) == count

    return check


# -- graphql-transport-ws ----------------------------------------------------------------


async def test_a_subscription_streams_next_messages_and_the_clients_complete_closes_it(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    await ws.send_json(
        {
            "id": "s1",
            "type": "subscribe",
            "payload": {"query": MESSAGES, "variables": {"t": "a"}},
        }
    )
    await eventually(listening(client, "a", 1), "the upstream opens")
    await post(client, PUBLISH, {"t": "a", "x": "hello"})
    await post(client, PUBLISH, {"t": "a", "x": "again"})
    assert await receive(ws) == {
        "id": "s1",
        "type": "next",
        "payload": {"data": {"messages": {"seq": 1, "text": "hello"}}},
    }
    assert (await receive(ws))["payload"]["data"]["messages"]["seq"] == 2
    await ws.send_json({"id": "s1", "type": "complete"})
    await eventually(listening(client, "a", 0), "the upstream closes")
    await ws.close()


async def test_many_subscriptions_share_one_socket_and_a_disconnect_closes_each_upstream(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    for topic in ("a", "b", "c"):
        await ws.send_json(
            {
                "id": topic,
                "type": "subscribe",
                "payload": {"query": MESSAGES, "variables": {"t": topic}},
            }
        )
    for topic in ("a", "b", "c"):
        await eventually(listening(client, topic, 1), f"{topic} opens")
    await post(client, PUBLISH, {"t": "b", "x": "for b"})
    message = await receive(ws)
    assert (message["id"], message["payload"]["data"]["messages"]["text"]) == (
        "b",
        "for b",
    )
    await ws.close()
    for topic in ("a", "b", "c"):
        await eventually(listening(client, topic, 0), f"{topic} closes")
    assert len(client.app[STATE].streams) == 0


async def test_queries_and_mutations_run_over_the_socket(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    await ws.send_json(
        {
            "id": "m",
            "type": "subscribe",
            "payload": {"query": PUBLISH, "variables": {"t": "q", "x": "hi"}},
        }
    )
    assert await receive(ws) == {
        "id": "m",
        "type": "next",
        "payload": {"data": {"publish": {"seq": 1}}},
    }
    assert await receive(ws) == {"id": "m", "type": "complete"}
    await ws.send_json(
        {
            "id": "q",
            "type": "subscribe",
            "payload": {"query": '{ product(upc: "p1") { name } }'},
        }
    )
    assert (await receive(ws))["payload"] == {
        "data": {"product": {"name": "Product 1"}}
    }
    assert await receive(ws) == {"id": "q", "type": "complete"}
    await ws.close()


async def test_an_invalid_operation_is_an_error_message_and_the_socket_stays_open(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    await ws.send_json(
        {"id": "x", "type": "subscribe", "payload": {"query": "{ nope }"}}
    )
    error = await receive(ws)
    assert error["type"] == "error" and error["id"] == "x"
    assert error["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await ws.send_json({"id": "y", "type": "subscribe", "payload": {"variables": {}}})
    error = await receive(ws)
    assert error["payload"][0]["message"] == "the request has no 'query'"
    await ws.send_json({"type": "ping", "payload": {"n": 1}})
    assert await receive(ws) == {"type": "pong", "payload": {"n": 1}}
    await ws.close()


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        (
            [{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}}],
            4401,
        ),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([{"type": "connection_init"}, "not json"], 4400),
        ([{"type": "connection_init"}, {"type": "what"}], 4400),
        ([{"type": "connection_init"}, {"type": "subscribe", "payload": {}}], 4400),
        ([{"type": "connection_init", "payload": "x"}], 4400),
    ],
)
async def test_protocol_violations_close_with_the_specs_codes(
    client: TestClient[Any, Any], messages: list[Any], code: int
) -> None:
    ws = await client.ws_connect("/graphql", protocols=(TRANSPORT_WS,))
    for message in messages:
        if isinstance(message, str):
            await ws.send_str(message)
        else:
            await ws.send_json(message)
    assert await closed_with(ws) == code


async def test_a_second_subscribe_with_an_id_in_use_closes_with_4409(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    subscribe = {
        "id": "same",
        "type": "subscribe",
        "payload": {"query": MESSAGES, "variables": {"t": "d"}},
    }
    await ws.send_json(subscribe)
    await ws.send_json(subscribe)
    assert await closed_with(ws) == 4409
    await eventually(listening(client, "d", 0), "the first one closed")


async def test_stream_limits_apply_per_subscription(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    for n in range(4):  # max_streams_per_client: 3
        await ws.send_json(
            {
                "id": str(n),
                "type": "subscribe",
                "payload": {"query": MESSAGES, "variables": {"t": f"l{n}"}},
            }
        )
    error = await receive(ws)
    assert error["type"] == "error" and error["id"] == "3"
    assert error["payload"][0]["extensions"]["code"] == "TOO_MANY_STREAMS"
    await ws.close()


async def test_connection_init_headers_are_the_operations_client_headers(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(
        client,
        payload={"Authorization": "Bearer a", "headers": {"X-Tenant": "t1"}},
        headers={"X-Upgrade": "u"},
    )
    query = '{ a: header(name: "Authorization") t: header(name: "x-tenant") u: header(name: "X-Upgrade") }'
    await ws.send_json({"id": "h", "type": "subscribe", "payload": {"query": query}})
    assert (await receive(ws))["payload"] == {
        "data": {"a": "Bearer a", "t": "t1", "u": "u"}
    }
    await ws.close()


def test_init_headers_keep_only_header_like_string_fields() -> None:
    headers = init_headers(
        CIMultiDict({"Authorization": "old", "Host": "h"}),
        {
            "authorization": "new",
            "Host": "evil",
            "Sec-WebSocket-Key": "x",
            "X-Split": "a\r\nInjected: 1",
            "not a header": "x",
            "count": 3,
            "headers": {"X-Nested": "n", "Origin": "https://evil.example"},
        },
    )
    assert headers.getall("Authorization") == ["new"]
    assert headers["Host"] == "h"
    assert headers["X-Nested"] == "n"
    for absent in ("Sec-WebSocket-Key", "X-Split", "not a header", "count", "Origin"):
        assert absent not in headers


# -- the upgrade ---------------------------------------------------------------------------


@pytest.mark.parametrize("offered", [None, "graphql-sse", "soap, wamp"])
async def test_an_upgrade_without_a_supported_subprotocol_gets_400_naming_them(
    client: TestClient[Any, Any], offered: str | None
) -> None:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    if offered is not None:
        headers["Sec-WebSocket-Protocol"] = offered
    response = await client.get("/graphql", headers=headers)
    assert response.status == 400
    body = await response.json()
    [error] = body["errors"]
    assert (
        "graphql-transport-ws" in error["message"] and "graphql-ws" in error["message"]
    )
    assert error["extensions"]["code"] == "UNSUPPORTED_SUBPROTOCOL"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost:3000", True),
        ("http://127.0.0.1:5173", True),
        ("http://[::1]:8080", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
        ("null", False),
    ],
)
async def test_the_upgrade_checks_origin_against_the_allow_list(
    client: TestClient[Any, Any], origin: str | None, allowed: bool
) -> None:
    headers = {"Origin": origin} if origin else {}
    if allowed:
        ws = await client.ws_connect(
            "/graphql", protocols=(TRANSPORT_WS,), headers=headers
        )
        await ws.close()
        return
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/graphql", protocols=(TRANSPORT_WS,), headers=headers)
    assert caught.value.status == 403


async def test_a_configured_allow_list_replaces_the_local_default(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # gateway.cors decides for sockets as for every request: the configured list
    # replaces the local default.
    cors = "  cors:\n    allow_origins: ['https://app.example']\n"
    app = create_app(load_config(write_config(tmp_path, cors)))
    client = await aiohttp_client(app)
    ws = await client.ws_connect(
        "/graphql", protocols=(TRANSPORT_WS,), headers={"Origin": "https://app.example"}
    )
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect(
            "/graphql",
            protocols=(TRANSPORT_WS,),
            headers={"Origin": "http://localhost:1"},
        )


async def test_a_client_that_never_sends_connection_init_is_closed_with_4408(
    aiohttp_client: Any,
) -> None:
    app = web.Application()
    sockets = Sockets()

    def never(
        gql: GraphQLRequest, context: RequestContext
    ) -> Callable[[], AsyncIterator[StreamEvent]]:
        raise AssertionError("no operation runs")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_websocket(
            request,
            sockets,
            never,
            lambda headers, remote: RequestContext(headers=headers),
            SocketOptions(registry=StreamRegistry(StreamLimits()), init_timeout=0.1),
        )

    app.router.add_get("/graphql", handler)
    client = await aiohttp_client(app)
    ws = await client.ws_connect("/graphql", protocols=(TRANSPORT_WS,))
    assert await closed_with(ws) == 4408

    async def forgotten() -> bool:
        return len(sockets) == 0

    await eventually(forgotten, "the server forgets the socket")


async def test_shutdown_closes_each_socket_with_1001(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    app = create_app(load_config(write_config(tmp_path)))
    client = await aiohttp_client(app)
    modern = await connect(client)
    await modern.send_json(
        {
            "id": "s",
            "type": "subscribe",
            "payload": {"query": MESSAGES, "variables": {"t": "z"}},
        }
    )
    legacy = await connect(client, LEGACY_WS)
    await legacy.send_json(
        {
            "id": 7,
            "type": "start",
            "payload": {"query": MESSAGES, "variables": {"t": "z"}},
        }
    )
    await eventually(listening(client, "z", 1), "the shared upstream opens")

    async def both_streaming() -> bool:
        return len(app[STATE].streams) == 2

    await eventually(both_streaming, "both stream")
    shutting_down = asyncio.ensure_future(app.shutdown())
    # graphql-ws: the socket closes with 1001 (the client reconnects and subscribes
    # again). subscriptions-transport-ws: a last error, complete, then the close.
    assert await closed_with(modern) == 1001
    data = await receive_skipping(legacy, "ka")
    assert data["type"] == "data" and data["id"] == 7
    assert data["payload"]["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
    assert await receive_skipping(legacy, "ka") == {"id": 7, "type": "complete"}
    assert await closed_with(legacy) == 1001
    await shutting_down


# -- legacy graphql-ws (subscriptions-transport-ws) ------------------------------------


async def test_legacy_protocol_start_data_stop_complete(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client, LEGACY_WS, payload={"authToken": "x"})
    await ws.send_json(
        {
            "id": "1",
            "type": "start",
            "payload": {"query": MESSAGES, "variables": {"t": "g"}},
        }
    )
    await eventually(listening(client, "g", 1), "the upstream opens")
    await post(client, PUBLISH, {"t": "g", "x": "old"})
    assert await receive_skipping(ws, "ka") == {
        "id": "1",
        "type": "data",
        "payload": {"data": {"messages": {"seq": 1, "text": "old"}}},
    }
    await ws.send_json({"id": "1", "type": "stop"})
    assert await receive_skipping(ws, "ka") == {"id": "1", "type": "complete"}
    await eventually(listening(client, "g", 0), "the upstream closes")
    await ws.send_json({"id": "2", "type": "start", "payload": {"query": "{ nope }"}})
    error = await receive_skipping(ws, "ka")
    assert error["type"] == "error" and error["id"] == "2"
    await ws.send_json(
        {
            "id": "3",
            "type": "start",
            "payload": {"query": '{ product(upc: "p2") { name } }'},
        }
    )
    assert (await receive_skipping(ws, "ka"))["payload"] == {
        "data": {"product": {"name": "Product 2"}}
    }
    assert await receive_skipping(ws, "ka") == {"id": "3", "type": "complete"}
    await ws.send_json({"type": "connection_terminate"})
    assert await closed_with(ws) == 1000


async def test_legacy_disconnect_closes_the_upstream(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client, LEGACY_WS)
    await ws.send_json(
        {
            "id": "1",
            "type": "start",
            "payload": {"query": MESSAGES, "variables": {"t": "h"}},
        }
    )
    await eventually(listening(client, "h", 1), "the upstream opens")
    await ws.close()
    await eventually(listening(client, "h", 0), "the upstream closes")


async def test_connection_init_headers_follow_the_propagation_rules_to_a_remote_subgraph(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    subgraph = await aiohttp_server(create_subgraph_app(ticker({})))
    sdl = tmp_path / "ticker.graphql"
    sdl.write_text(TICKER_SDL)
    path = tmp_path / "remote.yaml"
    path.write_text(
        "version: 1\nsubgraphs:\n  - name: ticker\n"
        f"    routing_url: {subgraph.make_url('/graphql')}\n"
        f"    schema:\n      file: {sdl}\n"
        "gateway:\n  headers:\n    all:\n      request:\n"
        "        - op: propagate\n          named: Authorization\n"
    )
    client = await aiohttp_client(create_app(load_config(path)))
    ws = await connect(
        client, payload={"headers": {"Authorization": "Bearer p", "X-Other": "o"}}
    )
    query = '{ a: header(name: "Authorization") o: header(name: "X-Other") }'
    await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
    assert (await receive(ws))["payload"] == {"data": {"a": "Bearer p", "o": None}}
    await ws.close()


@pytest.mark.parametrize(
    ("protocol", "keepalive"), [(TRANSPORT_WS, "ping"), (LEGACY_WS, "ka")]
)
async def test_an_idle_subscription_gets_the_protocols_keepalive(
    aiohttp_client: Any, tmp_path: Path, protocol: str, keepalive: str
) -> None:
    app = create_app(
        load_config(write_config(tmp_path, "  heartbeat_interval: 0.05\n"))
    )
    client = await aiohttp_client(app)
    ws = await connect(client, protocol)
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    await ws.send_json(
        {
            "id": "k",
            "type": kind,
            "payload": {"query": MESSAGES, "variables": {"t": "k"}},
        }
    )
    assert (await receive(ws))["type"] == keepalive
    assert (await receive(ws))["type"] == keepalive
    await ws.close()


async def test_websocket_and_sse_subscribers_share_one_upstream(
    client: TestClient[Any, Any],
) -> None:
    ws = await connect(client)
    await ws.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": MESSAGES, "variables": {"t": "both"}},
        }
    )
    await eventually(listening(client, "both", 1), "the socket's upstream opens")
    sse = await client.post(
        "/graphql",
        json={"query": MESSAGES, "variables": {"t": "both"}},
        headers={"Accept": "text/event-stream"},
    )
    assert sse.status == 200
    registry = client.app[STATE].streams

    async def both_streaming() -> bool:
        # A stream that streams has joined its upstream (nothing awaits between).
        states = [stream.state.value for stream in registry.streams]
        return states == ["streaming", "streaming"]

    await eventually(both_streaming, "the SSE stream joins")
    assert await listeners(client, "both") == 1, "one upstream for both wire formats"
    await post(client, PUBLISH, {"t": "both", "x": "shared"})
    message = await receive(ws)
    assert message["payload"]["data"]["messages"]["text"] == "shared"
    chunk = await asyncio.wait_for(sse.content.readuntil(b"\n\n"), TIMEOUT)
    assert b'"text":"shared"' in chunk
    sse.close()
    await ws.close()
    await eventually(listening(client, "both", 0), "the upstream closes with the last")
