"""graphql-sse's single connection mode (gateway.http.single_connection)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import load_config
from gateway.http.app import STATE, create_app
from gateway.sse import Event, SSEDecoder

TOKEN = "X-GraphQL-Event-Stream-Token"
MESSAGES = "subscription ($t: String!) { messages(topic: $t) { text } }"


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "version: 1\n"
        "subgraphs:\n"
        "  - name: ticker\n"
        "    module: tests.fixtures.ticker:ticker\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
    )
    return await aiohttp_client(create_app(load_config(config)))


class Events:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.decoder = SSEDecoder()
        self.ready: list[Event] = []

    async def next(self) -> tuple[str, Any]:
        while not self.ready:
            chunk = await asyncio.wait_for(self.response.content.readany(), 10)
            if not chunk:
                raise EOFError
            self.ready.extend(
                item for item in self.decoder.feed(chunk) if isinstance(item, Event)
            )
        event = self.ready.pop(0)
        return event.event, orjson.loads(event.data)


async def reserve(client: Any) -> str:
    response = await client.put("/graphql", headers={"Accept": "text/plain"})
    assert response.status == 201
    assert response.content_type == "text/plain"
    return str(await response.text())


async def post(
    client: Any, token: str, op_id: str | None, query: str, **vars: Any
) -> Any:
    extensions = {"operationId": op_id} if op_id is not None else {}
    return await client.post(
        "/graphql",
        data=orjson.dumps(
            {"query": query, "variables": vars, "extensions": extensions}
        ),
        headers={
            TOKEN: token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )


async def listeners(client: Any, topic: str) -> int:
    response = await client.post(
        "/graphql", json={"query": f'{{ listeners(topic: "{topic}") }}'}
    )
    return int((await response.json())["data"]["listeners"])


async def test_operations_posted_with_the_token_stream_over_the_one_connection(
    client: Any,
) -> None:
    token = await reserve(client)
    # Sent before the stream opens: it waits for it.
    early = await post(client, token, "a", "subscription { count(to: 2) }")
    assert early.status == 202
    stream = await client.get(
        "/graphql", params={"token": token}, headers={"Accept": "text/event-stream"}
    )
    assert stream.status == 200
    events = Events(stream)
    query = await post(client, token, "b", '{ listeners(topic: "x") }')
    assert query.status == 202
    seen = [await events.next() for _ in range(5)]
    by_id: dict[str, list[tuple[str, Any]]] = {}
    for kind, data in seen:
        by_id.setdefault(data["id"], []).append((kind, data.get("payload")))
    assert by_id["a"] == [
        ("next", {"data": {"count": 1}}),
        ("next", {"data": {"count": 2}}),
        ("complete", None),
    ]
    assert by_id["b"] == [("next", {"data": {"listeners": 0}}), ("complete", None)]
    stream.close()


async def test_delete_stops_one_operation_and_its_upstream(client: Any) -> None:
    token = await reserve(client)
    stream = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    assert (await post(client, token, "m", MESSAGES, t="del")).status == 202
    for _ in range(200):
        if await listeners(client, "del") == 1:
            break
        await asyncio.sleep(0.01)
    stop = await client.delete(
        "/graphql", params={"operationId": "m"}, headers={TOKEN: token}
    )
    assert stop.status == 200
    for _ in range(200):
        if await listeners(client, "del") == 0:
            break
        await asyncio.sleep(0.01)
    assert await listeners(client, "del") == 0
    stream.close()


async def test_closing_the_stream_stops_its_operations(client: Any) -> None:
    token = await reserve(client)
    stream = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    assert (await post(client, token, "m", MESSAGES, t="gone")).status == 202
    for _ in range(200):
        if await listeners(client, "gone") == 1:
            break
        await asyncio.sleep(0.01)
    stream.close()
    for _ in range(200):
        if await listeners(client, "gone") == 0:
            break
        await asyncio.sleep(0.02)
    assert await listeners(client, "gone") == 0
    late = await post(client, token, "n", MESSAGES, t="gone")
    assert late.status == 404


async def test_protocol_mistakes_get_clear_statuses(client: Any) -> None:
    not_text = await client.put("/graphql", headers={"Accept": "application/json"})
    assert not_text.status == 406
    unknown = await client.get(
        "/graphql", headers={TOKEN: "nope", "Accept": "text/event-stream"}
    )
    assert unknown.status == 404
    assert (await unknown.json())["errors"][0]["extensions"]["code"] == (
        "STREAM_NOT_FOUND"
    )
    token = await reserve(client)
    first = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    second = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    assert second.status == 409
    missing_id = await post(client, token, None, "{ __typename }")
    assert missing_id.status == 400
    assert (await post(client, token, "x", MESSAGES, t="dup")).status == 202
    duplicate = await post(client, token, "x", MESSAGES, t="dup")
    assert duplicate.status == 409
    invalid = await post(client, token, "y", "{ nope }")
    assert invalid.status == 400
    body = await invalid.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    no_id = await client.delete("/graphql", headers={TOKEN: token})
    assert no_id.status == 400
    first.close()


async def test_a_reservation_never_opened_expires(client: Any) -> None:
    connections = client.server.app[STATE].connections
    connections.reservation_ttl = 0.01
    token = await reserve(client)
    for _ in range(200):
        if token not in connections.connections:
            break
        await asyncio.sleep(0.01)
    stream = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    assert stream.status == 404


async def test_shutdown_ends_each_operation_then_the_stream(client: Any) -> None:
    token = await reserve(client)
    stream = await client.get(
        "/graphql", headers={TOKEN: token, "Accept": "text/event-stream"}
    )
    events = Events(stream)
    assert (await post(client, token, "m", MESSAGES, t="bye")).status == 202
    for _ in range(200):
        if await listeners(client, "bye") == 1:
            break
        await asyncio.sleep(0.01)
    await client.server.app.shutdown()
    kind, data = await events.next()
    assert kind == "next" and data["id"] == "m"
    assert data["payload"]["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
    assert await events.next() == ("complete", {"id": "m"})
    with pytest.raises(EOFError):
        await events.next()
