"""Inbound in-flight dedup: identical concurrent queries share one execution and
answer; requests that differ in anything a subgraph would see never share."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config import load_config
from gateway.http.app import STATE, create_app

SDL = """extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { hello: String }
type Mutation { poke: String }
"""


class Upstream:
    """A subgraph that holds every answer until the test releases it."""

    def __init__(self) -> None:
        self.tenants: list[str | None] = []
        self.arrived = asyncio.Condition()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        tenant = request.headers.get("X-Tenant")
        async with self.arrived:
            self.tenants.append(tenant)
            self.arrived.notify_all()
        await self.release.wait()
        field = "poke" if "poke" in body["query"] else "hello"
        return web.json_response({"data": {field: f"hi {tenant}"}})

    async def until(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.tenants) >= count), 10
            )


async def _gateway(
    tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any, *, dedup: bool = True
) -> tuple[Any, Upstream]:
    upstream = Upstream()
    app = web.Application()
    app.router.add_post("/graphql", upstream.handle)
    server = await aiohttp_server(app)
    (tmp_path / "hello.graphql").write_text(SDL)
    (tmp_path / "supergraph.yaml").write_text(
        "version: 1\n"
        "subgraphs:\n"
        "  - name: hello\n"
        f"    routing_url: {server.make_url('/graphql')}\n"
        "    schema:\n"
        "      file: hello.graphql\n"
        "gateway:\n"
        "  dedup_queries: false\n"
        f"  dedup_requests: {'true' if dedup else 'false'}\n"
        "  headers:\n"
        "    all:\n"
        "      request:\n"
        "        - op: propagate\n"
        "          named: X-Tenant\n"
    )
    client = await aiohttp_client(create_app(load_config(tmp_path / "supergraph.yaml")))
    return client, upstream


async def _post(client: Any, query: str, tenant: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if tenant is not None:
        headers["X-Tenant"] = tenant
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    return response.status, await response.json()


async def _joined(client: Any, count: int) -> None:
    inflight = client.app[STATE].inflight
    for _ in range(1000):
        if inflight.joined >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second request never joined the first")


async def test_two_identical_concurrent_queries_make_one_subgraph_fetch(
    tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    client, upstream = await _gateway(tmp_path, aiohttp_server, aiohttp_client)
    first = asyncio.ensure_future(_post(client, "{ hello }", "a"))
    await upstream.until(1)
    second = asyncio.ensure_future(_post(client, "{ hello }", "a"))
    await _joined(client, 1)
    upstream.release.set()
    answers = await asyncio.gather(first, second)
    assert answers == [(200, {"data": {"hello": "hi a"}})] * 2
    assert upstream.tenants == ["a"]


@pytest.mark.parametrize(
    ("tenants", "queries"),
    [
        (("a", "b"), ("{ hello }", "{ hello }")),  # different forwarded headers
        (("a", None), ("{ hello }", "{ hello }")),
        (("a", "a"), ("{ hello }", "query Other { hello }")),  # different documents
    ],
)
async def test_requests_that_differ_never_share(
    tmp_path: Path,
    aiohttp_server: Any,
    aiohttp_client: Any,
    tenants: tuple[str | None, str | None],
    queries: tuple[str, str],
) -> None:
    client, upstream = await _gateway(tmp_path, aiohttp_server, aiohttp_client)
    first = asyncio.ensure_future(_post(client, queries[0], tenants[0]))
    second = asyncio.ensure_future(_post(client, queries[1], tenants[1]))
    await upstream.until(2)  # both reached the subgraph while both were in flight
    upstream.release.set()
    answers = await asyncio.gather(first, second)
    assert answers == [(200, {"data": {"hello": f"hi {t}"}}) for t in tenants]
    assert sorted(upstream.tenants, key=str) == sorted(tenants, key=str)
    assert client.app[STATE].inflight.joined == 0


async def test_mutations_never_share(
    tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    client, upstream = await _gateway(tmp_path, aiohttp_server, aiohttp_client)
    calls = [
        asyncio.ensure_future(_post(client, "mutation { poke }", "a")) for _ in "ab"
    ]
    await upstream.until(2)
    upstream.release.set()
    answers = await asyncio.gather(*calls)
    assert answers == [(200, {"data": {"poke": "hi a"}})] * 2
    assert upstream.tenants == ["a", "a"]


async def test_dedup_requests_false_turns_it_off(
    tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    client, upstream = await _gateway(
        tmp_path, aiohttp_server, aiohttp_client, dedup=False
    )
    assert client.app[STATE].inflight is None
    calls = [asyncio.ensure_future(_post(client, "{ hello }", "a")) for _ in "ab"]
    await upstream.until(2)
    upstream.release.set()
    assert await asyncio.gather(*calls) == [(200, {"data": {"hello": "hi a"}})] * 2


def test_client_headers_count_only_when_a_subgraph_sees_them() -> None:
    from graphql import build_schema
    from multidict import CIMultiDict, CIMultiDictProxy

    from gateway.inflight import request_key
    from gateway.operation import GraphQLRequest, OperationCache, prepare

    operations = OperationCache(build_schema("type Query { hello: String }"), 8)
    prepared = prepare(operations, GraphQLRequest(query="{ hello }"))

    def context(cookie: str) -> Any:
        from gateway.transports.base import RequestContext

        headers = CIMultiDictProxy(CIMultiDict({"Cookie": cookie}))
        return RequestContext(headers=headers, request_id=cookie)

    for sees, same in ((False, True), (True, False)):
        keys = {
            request_key(prepared, context(c), sees_client_headers=sees) for c in "ab"
        }
        assert (len(keys) == 1) is same
