"""OpenTelemetry through a real ``gateway serve``: spans exported over OTLP/HTTP to a
receiver on loopback (protobuf decoded with opentelemetry-proto), for a join across an
in-process and a remote subgraph; the remote subgraph sees the fetch's traceparent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from tests.helpers.processes import StartGateway, free_port

INVENTORY_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Product @key(fields: "upc") {
  upc: String!
  inStock: Boolean!
}
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
QUERY = "query Stock { topProducts(first: 2) { upc name inStock } }"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest.fixture
async def inventory() -> AsyncIterator[tuple[int, list[dict[str, str]]]]:
    """A remote subgraph answering ``_entities``, recording each request's headers."""
    seen: list[dict[str, str]] = []

    async def graphql(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(dict(request.headers))
        representations = (body.get("variables") or {}).get("representations", [])
        entities = [{"__typename": "Product", "inStock": True} for _ in representations]
        return web.json_response({"data": {"_entities": entities}})

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    runner, port = await _serve(app)
    yield port, seen
    await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver: POST /v1/traces, protobuf."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner, port = await _serve(app)
    yield port, received
    await runner.cleanup()


def _spans(received: list[ExportTraceServiceRequest]) -> list[dict[str, Any]]:
    spans = []
    for message in received:
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    spans.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {
                                a.key: a.value.string_value or a.value.int_value
                                for a in span.attributes
                            },
                        }
                    )
    return spans


async def test_a_join_is_one_trace_and_the_subgraph_gets_its_traceparent(
    start_gateway: StartGateway,
    tmp_path: Path,
    inventory: tuple[int, list[dict[str, str]]],
    receiver: tuple[int, list[ExportTraceServiceRequest]],
) -> None:
    inventory_port, seen = inventory
    receiver_port, received = receiver
    (tmp_path / "inventory.graphql").write_text(INVENTORY_SDL)
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "subgraphs:\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        "  - name: inventory\n"
        f"    routing_url: http://127.0.0.1:{inventory_port}/graphql\n"
        "    schema:\n"
        "      file: inventory.graphql\n"
        "gateway:\n"
        "  telemetry:\n"
        "    tracing:\n"
        "      exporter: otlp_http\n"
        f"      endpoint: http://127.0.0.1:{receiver_port}/v1/traces\n"
    )
    gateway = await start_gateway(
        config, args=["--metrics-addr", f"127.0.0.1:{free_port()}"]
    )
    traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(
                gateway.url, json={"query": QUERY}, headers={"traceparent": traceparent}
            ) as response:
                body = orjson.loads(await response.read())
            assert body == {
                "data": {
                    "topProducts": [
                        {"upc": "p1", "name": "Product 1", "inStock": True},
                        {"upc": "p2", "name": "Product 2", "inStock": True},
                    ]
                }
            }
    assert await gateway.stop() == 0  # shutdown flushes the pending spans
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    spans = [s for s in _spans(received) if s["trace"] == TRACE_ID]
    roots = [s for s in spans if s["name"] == "POST /graphql"]
    assert len(roots) == 2
    for root in roots:
        assert root["parent"] == CLIENT_SPAN
        assert root["attributes"]["graphql.operation.name"] == "Stock"
        assert root["attributes"]["http.response.status_code"] == 200
        children = {s["name"]: s for s in spans if s["parent"] == root["id"]}
        assert set(children) == {"prepare", "plan", "fetch products", "fetch inventory"}
    caches = [
        s["attributes"]["graphql.plan.cache"] for s in spans if s["name"] == "plan"
    ]
    assert caches == ["miss", "hit"]
    # The remote subgraph got the traceparent of the fetch span that called it.
    fetches = [s for s in spans if s["name"] == "fetch inventory"]
    sent = [h["traceparent"] for h in seen]
    assert sent == [f"00-{TRACE_ID}-{span['id']}-01" for span in fetches]
