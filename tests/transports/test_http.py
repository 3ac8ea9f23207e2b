"""HTTPTransport against real subgraph servers on loopback."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphHTTPError,
    SubgraphResponseTooLargeError,
    SubgraphTimeoutError,
    SubgraphUnreachableError,
)
from gateway.headers import HeaderPolicy
from gateway.transports.base import RequestContext, SharedResult, SubgraphRequest
from gateway.transports.h1 import HTTP1Client
from gateway.transports.http import HTTPTransport


class Rule:
    """A header rule with the fields gateway.config.HeaderRule has."""

    def __init__(self, **fields: Any) -> None:
        self.op = fields.get("op", "propagate")
        self.named = fields.get("named")
        self.matching = fields.get("matching")
        self.rename = fields.get("rename")
        self.default = fields.get("default")
        self.name = fields.get("name")
        self.value = fields.get("value")
        self.claim = fields.get("claim")


async def _serve(aiohttp_server: Any, handler: Any) -> str:
    app = web.Application()
    app.router.add_post("/graphql", handler)
    server = await aiohttp_server(app)
    return str(server.make_url("/graphql"))


@pytest.fixture
async def session() -> Any:
    client = HTTP1Client()
    yield client
    await client.close()


async def test_fetch_posts_json_and_returns_the_body(
    aiohttp_server: Any, session: Any
) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["body"] = await request.json()
        seen["content_type"] = request.content_type
        return web.json_response({"data": {"hello": "world"}})

    url = await _serve(aiohttp_server, handler)
    transport = HTTPTransport("a", url, session)
    result = await transport.fetch(
        SubgraphRequest(query="query($x: Int) { hello }", variables={"x": 1})
    )
    assert result == {"data": {"hello": "world"}}
    assert seen["body"] == {"query": "query($x: Int) { hello }", "variables": {"x": 1}}
    assert seen["content_type"] == "application/json"


async def test_connection_refused_is_unreachable(session: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = HTTPTransport("down", f"http://127.0.0.1:{port}/graphql", session)
    with pytest.raises(SubgraphUnreachableError) as info:
        await transport.fetch(SubgraphRequest(query="{ a }"))
    assert info.value.to_graphql()["extensions"] == {
        "code": "SUBGRAPH_UNREACHABLE",
        "serviceName": "down",
    }


async def test_slow_subgraph_times_out(aiohttp_server: Any, session: Any) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"data": {}})

    url = await _serve(aiohttp_server, handler)
    transport = HTTPTransport("slow", url, session, timeout=0.2)
    with pytest.raises(SubgraphTimeoutError):
        await transport.fetch(SubgraphRequest(query="{ a }"))
    release.set()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_an_http_error_with_the_status(
    aiohttp_server: Any, session: Any, status: int
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"errors": [{"message": "boom"}]}, status=status)

    url = await _serve(aiohttp_server, handler)
    with pytest.raises(SubgraphHTTPError) as info:
        await HTTPTransport("s", url, session).fetch(SubgraphRequest(query="{ a }"))
    assert info.value.status == status
    assert info.value.extensions()["http"] == {"status": status}


async def test_4xx_with_a_graphql_body_passes_the_errors_through(
    aiohttp_server: Any, session: Any
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {"errors": [{"message": "Cannot query field"}]},
            status=400,
            content_type="application/graphql-response+json",
        )

    url = await _serve(aiohttp_server, handler)
    result = await HTTPTransport("s", url, session).fetch(
        SubgraphRequest(query="{ a }")
    )
    assert result == {"errors": [{"message": "Cannot query field"}]}


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"[1, 2]", b'{"data": 3}', b'{"errors": "nope"}', b""],
)
async def test_a_body_that_is_not_a_graphql_response_is_bad(
    aiohttp_server: Any, session: Any, body: bytes
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html")

    url = await _serve(aiohttp_server, handler)
    with pytest.raises(SubgraphBadResponseError):
        await HTTPTransport("s", url, session).fetch(SubgraphRequest(query="{ a }"))


async def test_only_configured_headers_are_propagated(
    aiohttp_server: Any, session: Any
) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"data": {}})

    url = await _serve(aiohttp_server, handler)
    policy = HeaderPolicy.from_rules(
        [],
        {
            "s": [
                Rule(named="Authorization"),
                Rule(matching=re.compile(r"(?i)^x-trace-")),
                Rule(named="X-Tenant", default="public"),
                Rule(named="X-User", rename="X-Forwarded-User"),
                Rule(op="set", name="X-Gateway", value="gateway"),
                Rule(named="Host"),
            ]
        },
    )
    transport = HTTPTransport("s", url, session)
    incoming = CIMultiDictProxy(
        CIMultiDict(
            {
                "authorization": "Bearer t",
                "X-Trace-Id": "abc",
                "X-User": "ann",
                "Cookie": "secret",
                "Host": "evil",
            }
        )
    )
    await transport.fetch(
        SubgraphRequest(
            query="{ a }",
            context=RequestContext(
                headers=incoming, forward=policy.for_request(incoming)
            ),
        )
    )
    assert seen["Authorization"] == "Bearer t"
    assert seen["X-Trace-Id"] == "abc"
    assert seen["X-Tenant"] == "public"
    assert seen["X-Forwarded-User"] == "ann"
    assert seen["X-Gateway"] == "gateway"
    assert "Cookie" not in seen
    assert "X-User" not in seen
    assert seen["Host"] != "evil"


async def _counting_server(
    aiohttp_server: Any, release: asyncio.Event
) -> tuple[str, list[Any]]:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(await request.json())
        await release.wait()
        return web.json_response({"data": {"n": len(seen)}})

    return await _serve(aiohttp_server, handler), seen


async def test_identical_concurrent_queries_share_one_upstream_request(
    aiohttp_server: Any, session: Any
) -> None:
    release = asyncio.Event()
    url, seen = await _counting_server(aiohttp_server, release)
    transport = HTTPTransport("s", url, session, dedup=True)
    tasks = [
        asyncio.create_task(transport.fetch(SubgraphRequest(query="{ n }")))
        for _ in range(5)
    ]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(*tasks)
    assert len(seen) == 1
    assert results == [{"data": {"n": 1}}] * 5
    # decoded once: every waiter gets the same value, marked as shared (the
    # executor copies on write)
    assert all(type(result) is SharedResult for result in results)
    assert all(result["data"] is results[0]["data"] for result in results)


async def test_a_lone_fetch_gets_an_answer_of_its_own(
    aiohttp_server: Any, session: Any
) -> None:
    release = asyncio.Event()
    release.set()
    url, _ = await _counting_server(aiohttp_server, release)
    transport = HTTPTransport("s", url, session, dedup=True)
    result = await transport.fetch(SubgraphRequest(query="{ n }"))
    assert type(result) is dict


async def test_mutations_and_differing_queries_are_never_shared(
    aiohttp_server: Any, session: Any
) -> None:
    release = asyncio.Event()
    url, seen = await _counting_server(aiohttp_server, release)
    transport = HTTPTransport("s", url, session, dedup=True)
    requests = [
        SubgraphRequest(query="mutation { n }"),
        SubgraphRequest(query="mutation { n }"),
        SubgraphRequest(query="{ n }", variables={"a": 1}),
        SubgraphRequest(query="{ n }", variables={"a": 2}),
    ]
    tasks = [asyncio.create_task(transport.fetch(r)) for r in requests]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*tasks)
    assert len(seen) == 4


async def test_dedup_off_sends_every_request(aiohttp_server: Any, session: Any) -> None:
    release = asyncio.Event()
    url, seen = await _counting_server(aiohttp_server, release)
    transport = HTTPTransport("s", url, session, dedup=False)
    tasks = [
        asyncio.create_task(transport.fetch(SubgraphRequest(query="{ n }")))
        for _ in range(3)
    ]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*tasks)
    assert len(seen) == 3


async def test_a_cancelled_waiter_does_not_cancel_the_shared_request(
    aiohttp_server: Any, session: Any
) -> None:
    release = asyncio.Event()
    url, seen = await _counting_server(aiohttp_server, release)
    transport = HTTPTransport("s", url, session, dedup=True)
    first = asyncio.create_task(transport.fetch(SubgraphRequest(query="{ n }")))
    second = asyncio.create_task(transport.fetch(SubgraphRequest(query="{ n }")))
    await asyncio.sleep(0.05)
    first.cancel()
    release.set()
    assert await second == {"data": {"n": 1}}
    assert len(seen) == 1


# -- answer size ------------------------------------------------------------------------


async def test_an_answer_over_the_size_limit_fails_without_reading_the_rest(
    aiohttp_server: Any, session: HTTP1Client
) -> None:
    sent: list[int] = []
    finished = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(b'{"data": {"blob": "')
            for _ in range(10_000):  # 640 MB if anyone read it all
                await response.write(b"x" * 65536)
                sent.append(1)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            finished.set()
        return response

    url = await _serve(aiohttp_server, endless)
    transport = HTTPTransport("big", url, session, max_response_bytes=1024 * 1024)
    with pytest.raises(SubgraphResponseTooLargeError) as caught:
        await transport.fetch(SubgraphRequest("{ blob }"))
    assert caught.value.code == "SUBGRAPH_RESPONSE_TOO_LARGE"
    assert caught.value.service == "big"
    await asyncio.wait_for(finished.wait(), 10)
    assert len(sent) < 200  # the connection was dropped, not drained


async def test_a_content_length_over_the_limit_is_refused_before_reading(
    aiohttp_server: Any, session: HTTP1Client
) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 300_000, content_type="application/json")

    url = await _serve(aiohttp_server, big)
    transport = HTTPTransport("big", url, session, max_response_bytes=100_000)
    with pytest.raises(SubgraphResponseTooLargeError, match="announces 300000"):
        await transport.fetch(SubgraphRequest("{ blob }"))


async def test_an_answer_at_the_size_limit_is_read(
    aiohttp_server: Any, session: HTTP1Client
) -> None:
    body = orjson.dumps({"data": {"blob": "x" * 1000}})

    async def exact(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    url = await _serve(aiohttp_server, exact)
    transport = HTTPTransport("ok", url, session, max_response_bytes=len(body))
    result = await transport.fetch(SubgraphRequest("{ blob }"))
    assert result["data"] == {"blob": "x" * 1000}
