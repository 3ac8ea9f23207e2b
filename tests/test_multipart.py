"""Multipart HTTP subscriptions (Apollo's subscriptionSpec=1.0) and one-part answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import load_config
from gateway.http.app import create_app
from tests.helpers.multipart import CLOSE, MultipartReader, parse_multipart

SUBSCRIPTION_ACCEPT = (
    'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
)
RESPONSE_TYPE = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0'
COUNT = "subscription { count(to: 3, every: 0) }"
MESSAGES = "subscription ($t: String!) { messages(topic: $t) { seq text } }"


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
        "gateway:\n"
        "  multipart_heartbeat_interval: 0.05\n"
    )
    return await aiohttp_client(create_app(load_config(config)))


async def _post(client: Any, query: str, accept: str, **variables: Any) -> Any:
    return await client.post(
        "/graphql",
        data=orjson.dumps({"query": query, "variables": variables}),
        headers={"Content-Type": "application/json", "Accept": accept},
    )


async def _until(reader: MultipartReader, wanted: Any) -> int:
    """Read parts up to ``wanted``; how many heartbeat parts came before it."""
    heartbeats = 0
    while (part := await reader.next()) != wanted:
        assert part == {}, part
        heartbeats += 1
    return heartbeats


@pytest.mark.parametrize(
    "accept",
    [
        SUBSCRIPTION_ACCEPT,
        "multipart/mixed;boundary=graphql;subscriptionSpec=1.0",
        'multipart/mixed; subscriptionSpec="1.0", application/json',
    ],
)
async def test_a_subscription_streams_payload_parts_and_the_closing_delimiter(
    client: Any, accept: str
) -> None:
    response = await _post(client, COUNT, accept)
    assert response.status == 200
    assert response.headers["Content-Type"] == RESPONSE_TYPE
    parts, closed = parse_multipart(await response.read())
    events = [part for part in parts if part != {}]
    assert events == [{"payload": {"data": {"count": n}}} for n in (1, 2, 3)]
    assert closed


async def test_an_idle_subscription_gets_empty_heartbeat_parts(client: Any) -> None:
    response = await _post(client, MESSAGES, SUBSCRIPTION_ACCEPT, t="idle")
    reader = MultipartReader(response)
    assert await reader.next() == {}  # nothing published yet: a heartbeat
    published = await _post(
        client,
        'mutation { publish(topic: "idle", text: "hi") { seq } }',
        "application/json",
    )
    assert published.status == 200
    await _until(reader, {"payload": {"data": {"messages": {"seq": 1, "text": "hi"}}}})
    response.close()


async def test_an_upstream_failure_is_a_transport_error_part_then_the_end(
    client: Any,
) -> None:
    response = await _post(client, MESSAGES, SUBSCRIPTION_ACCEPT, t="doomed")
    reader = MultipartReader(response)
    assert await reader.next() == {}
    await _post(
        client,
        'mutation { failTopic(topic: "doomed", message: "disk on fire") }',
        "application/json",
    )
    part = await reader.next()
    while part == {}:
        part = await reader.next()
    assert part["payload"] is None
    assert "disk on fire" in orjson.dumps(part["errors"]).decode()
    assert await reader.next() is CLOSE


async def test_a_query_asked_with_the_defer_spec_gets_one_part(client: Any) -> None:
    response = await _post(
        client, '{ listeners(topic: "x") }', "multipart/mixed;deferSpec=20220824"
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == (
        'multipart/mixed;boundary="graphql";deferSpec=20220824'
    )
    parts, closed = parse_multipart(await response.read())
    assert parts == [{"data": {"listeners": 0}, "hasNext": False}]
    assert closed


async def test_a_query_asked_with_the_subscription_spec_gets_one_payload_part(
    client: Any,
) -> None:
    response = await _post(
        client, '{ listeners(topic: "x") }', "multipart/mixed;subscriptionSpec=1.0"
    )
    parts, closed = parse_multipart(await response.read())
    assert parts == [{"payload": {"data": {"listeners": 0}}}]
    assert closed


async def test_a_query_with_json_first_gets_json_even_when_multipart_is_accepted(
    client: Any,
) -> None:
    response = await _post(
        client, '{ listeners(topic: "x") }', f"application/json, {RESPONSE_TYPE}"
    )
    assert response.content_type == "application/json"
    assert await response.json() == {"data": {"listeners": 0}}


async def test_an_invalid_subscription_asked_as_multipart_is_a_json_error(
    client: Any,
) -> None:
    response = await _post(client, "subscription { nope }", SUBSCRIPTION_ACCEPT)
    assert response.status == 400
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_client_that_leaves_closes_the_upstream(client: Any) -> None:
    response = await _post(client, MESSAGES, SUBSCRIPTION_ACCEPT, t="leave")
    reader = MultipartReader(response)
    assert await reader.next() == {}
    listeners = await _post(client, '{ listeners(topic: "leave") }', "application/json")
    assert (await listeners.json())["data"]["listeners"] == 1
    response.close()
    for _ in range(200):
        listeners = await _post(
            client, '{ listeners(topic: "leave") }', "application/json"
        )
        if (await listeners.json())["data"]["listeners"] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await listeners.json())["data"]["listeners"] == 0


async def test_shutdown_ends_a_stream_with_its_error_part_and_the_delimiter(
    client: Any,
) -> None:
    response = await _post(client, MESSAGES, SUBSCRIPTION_ACCEPT, t="bye")
    reader = MultipartReader(response)
    assert await reader.next() == {}
    await client.server.app.shutdown()
    part = await reader.next()
    while part == {}:
        part = await reader.next()
    assert part["payload"] is None
    assert part["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
    assert await reader.next() is CLOSE
