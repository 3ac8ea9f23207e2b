"""SSETransport against fake SSE subgraphs on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphHTTPError,
    SubgraphStreamError,
    SubgraphTimeoutError,
    SubgraphUnreachableError,
)
from gateway.sse import COMPLETE, HEARTBEAT, encode_event, encode_next
from gateway.transports.base import RequestContext, SubgraphRequest, SubgraphResult
from gateway.transports.sse import SSEMethod, SSETransport

ServerFactory = Callable[..., Awaitable[TestServer]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SUBSCRIPTION = "subscription Ticks($n: Int) { ticks(n: $n) }"


class Upstream:
    """A fake SSE subgraph: records requests and whether the client went away."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.disconnected = asyncio.Event()
        self.first_event_sent = asyncio.Event()

    async def record(self, request: web.Request) -> None:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "query": dict(request.query),
                "headers": request.headers,
                "body": orjson.loads(body) if body else None,
            }
        )

    async def open_stream(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return response


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def serve(aiohttp_server: ServerFactory, handler: Handler) -> str:
    app = web.Application()
    app.router.add_route("*", "/graphql", handler)
    server = await aiohttp_server(app)
    return str(server.make_url("/graphql"))


def transport(
    url: str,
    session: aiohttp.ClientSession,
    *,
    method: SSEMethod = "GET",
    **options: Any,
) -> SSETransport:
    return SSETransport("ticks", url, session, method=method, **options)


def request(**options: Any) -> SubgraphRequest:
    return SubgraphRequest(
        query=SUBSCRIPTION,
        variables={"n": 2},
        operation_name="Ticks",
        **options,
    )


async def collect(iterator: AsyncIterator[SubgraphResult]) -> list[SubgraphResult]:
    return [result async for result in iterator]


async def collect_until_error(
    iterator: AsyncIterator[SubgraphResult],
) -> tuple[list[SubgraphResult], SubgraphError]:
    results: list[SubgraphResult] = []
    with pytest.raises(SubgraphError) as info:
        async for result in iterator:
            results.append(result)
    return results, info.value


# --- the normal stream -----------------------------------------------------------


async def test_get_stream_sends_params_and_headers_and_yields_each_next(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}, id=1))
        await response.write(encode_next({"data": {"ticks": 2}}, id=2))
        await response.write(COMPLETE)
        return response

    url = await serve(aiohttp_server, handler)
    context = RequestContext(
        headers=CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer t"})),
        forward={"ticks": {"Authorization": "Bearer t"}},
    )
    sse = transport(url, session)
    results = await collect(
        sse.subscribe(request(context=context, extensions={"trace": True}))
    )

    assert results == [
        {"data": {"ticks": 1}, "extensions": {"eventId": "1"}},
        {"data": {"ticks": 2}, "extensions": {"eventId": "2"}},
    ]
    [sent] = upstream.requests
    assert sent["method"] == "GET"
    assert sent["query"] == {
        "query": SUBSCRIPTION,
        "operationName": "Ticks",
        "variables": '{"n":2}',
        "extensions": '{"trace":true}',
    }
    assert sent["headers"]["Accept"] == "text/event-stream"
    assert sent["headers"]["Cache-Control"] == "no-cache"
    assert sent["headers"]["Authorization"] == "Bearer t"


async def test_post_stream_sends_a_json_body(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}))
        await response.write(COMPLETE)
        return response

    url = await serve(aiohttp_server, handler)
    results = await collect(transport(url, session, method="POST").subscribe(request()))

    assert results == [{"data": {"ticks": 1}}]
    [sent] = upstream.requests
    assert sent["method"] == "POST"
    assert sent["query"] == {}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["Accept"] == "text/event-stream"
    assert sent["body"] == {
        "query": SUBSCRIPTION,
        "operationName": "Ticks",
        "variables": {"n": 2},
    }


async def test_heartbeats_and_frames_split_across_writes_are_reassembled(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    stream = (
        HEARTBEAT
        + b": keep-alive\r\n\r\n"
        + encode_next({"data": {"text": "h\u00e9llo \U0001f600"}}).replace(
            b"\n", b"\r\n"
        )
        + HEARTBEAT
        + encode_next({"data": {"text": "two"}})
        + b"event: complete\n\n"  # a bare complete, as some servers send it
    )

    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        for start in range(0, len(stream), 3):
            await response.write(stream[start : start + 3])
            await asyncio.sleep(0)
        return response

    url = await serve(aiohttp_server, handler)
    results = await collect(transport(url, session).subscribe(request()))

    assert results == [
        {"data": {"text": "h\u00e9llo \U0001f600"}},
        {"data": {"text": "two"}},
    ]


async def test_unknown_event_types_are_skipped(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_event("progress", "50%"))
        await response.write(encode_next({"data": {"ticks": 1}}))
        await response.write(COMPLETE)
        return response

    url = await serve(aiohttp_server, handler)
    assert await collect(transport(url, session).subscribe(request())) == [
        {"data": {"ticks": 1}}
    ]


# --- faults ------------------------------------------------------------------------


async def test_upstream_eof_without_complete_is_an_error(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}))
        await response.write_eof()
        return response

    url = await serve(aiohttp_server, handler)
    results, error = await collect_until_error(
        transport(url, session).subscribe(request())
    )

    assert results == [{"data": {"ticks": 1}}]
    assert isinstance(error, SubgraphBadResponseError)
    assert "without 'complete'" in error.message
    assert error.to_graphql()["extensions"] == {
        "code": "SUBGRAPH_BAD_RESPONSE",
        "serviceName": "ticks",
    }


async def test_upstream_eof_inside_an_event_says_so(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(b'event: next\ndata: {"data":')
        await response.write_eof()
        return response

    url = await serve(aiohttp_server, handler)
    results, error = await collect_until_error(
        transport(url, session).subscribe(request())
    )

    assert results == []
    assert isinstance(error, SubgraphBadResponseError)
    assert "middle of an event" in error.message


async def test_upstream_dropping_the_connection_mid_stream_is_an_error(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}))
        await response.write(b"event: next\ndata: {")
        assert req.transport is not None
        req.transport.abort()
        return response

    url = await serve(aiohttp_server, handler)
    results, error = await collect_until_error(
        transport(url, session).subscribe(request())
    )

    assert results == [{"data": {"ticks": 1}}]
    assert error.service == "ticks"
    assert error.code in {"SUBGRAPH_BAD_RESPONSE", "SUBGRAPH_UNREACHABLE"}


async def test_upstream_401_keeps_the_status(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        await upstream.record(req)
        return web.json_response({"errors": [{"message": "missing token"}]}, status=401)

    url = await serve(aiohttp_server, handler)
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphHTTPError)
    assert error.status == 401
    assert "missing token" in error.message
    assert error.to_graphql()["extensions"] == {
        "code": "SUBGRAPH_HTTP_ERROR",
        "serviceName": "ticks",
        "http": {"status": 401},
    }


async def test_graphql_error_response_instead_of_a_stream_surfaces_its_errors(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    errors = [{"message": "Cannot query field 'tock'", "locations": [{"line": 1}]}]

    async def handler(req: web.Request) -> web.StreamResponse:
        await upstream.record(req)
        return web.json_response({"errors": errors})

    url = await serve(aiohttp_server, handler)
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphStreamError)
    assert error.errors == errors
    assert error.graphql_errors() == errors
    assert "Cannot query field 'tock'" in error.message


async def test_non_graphql_content_type_is_a_bad_response(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        await upstream.record(req)
        return web.Response(text="<html>hello</html>", content_type="text/html")

    url = await serve(aiohttp_server, handler)
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphBadResponseError)
    assert "text/html" in error.message


async def test_error_event_ends_the_stream_with_the_subgraphs_errors(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    errors = [{"message": "session expired", "extensions": {"code": "GONE"}}]

    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}))
        await response.write(encode_event("error", orjson.dumps(errors).decode()))
        await response.write(encode_next({"data": {"ticks": 2}}))
        await response.write(COMPLETE)
        return response

    url = await serve(aiohttp_server, handler)
    results, error = await collect_until_error(
        transport(url, session).subscribe(request())
    )

    assert results == [{"data": {"ticks": 1}}]
    assert isinstance(error, SubgraphStreamError)
    assert error.errors == errors
    assert error.to_graphql()["extensions"]["code"] == "SUBGRAPH_STREAM_ERROR"


async def test_error_event_with_plain_text_becomes_one_error(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_event("error", "backend exploded"))
        return response

    url = await serve(aiohttp_server, handler)
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphStreamError)
    assert error.errors == [{"message": "backend exploded"}]


async def test_next_that_is_not_a_graphql_response_is_a_bad_response(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_event("next", "not json"))
        await response.write(COMPLETE)
        return response

    url = await serve(aiohttp_server, handler)
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphBadResponseError)


async def test_idle_upstream_times_out(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        await response.write(encode_next({"data": {"ticks": 1}}))
        await upstream.disconnected.wait()  # never set: the client gives up first
        return response

    url = await serve(aiohttp_server, handler)
    sse = transport(url, session, idle_timeout=0.2)
    results, error = await collect_until_error(sse.subscribe(request()))

    assert results == [{"data": {"ticks": 1}}]
    assert isinstance(error, SubgraphTimeoutError)


async def test_unreachable_upstream_is_an_unreachable_error(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/graphql"
    _, error = await collect_until_error(transport(url, session).subscribe(request()))

    assert isinstance(error, SubgraphUnreachableError)


def test_unknown_method_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="GET or POST"):
        transport("http://127.0.0.1/graphql", session, method="PUT")  # type: ignore[arg-type]


# --- closing ------------------------------------------------------------------------


def endless_handler(upstream: Upstream) -> Handler:
    async def handler(req: web.Request) -> web.StreamResponse:
        response = await upstream.open_stream(req)
        try:
            await response.write(encode_next({"data": {"ticks": 1}}))
            upstream.first_event_sent.set()
            while True:
                await asyncio.sleep(0.05)
                await response.write(HEARTBEAT)
        except (asyncio.CancelledError, ConnectionResetError):
            upstream.disconnected.set()
            raise
        return response

    return handler


async def test_aclose_closes_the_upstream_connection(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    url = await serve(aiohttp_server, endless_handler(upstream))
    iterator = transport(url, session).subscribe(request())

    assert await anext(iterator) == {"data": {"ticks": 1}}
    await iterator.aclose()  # type: ignore[attr-defined]

    await asyncio.wait_for(upstream.disconnected.wait(), 10)


async def test_cancelled_consumer_closes_the_upstream_connection(
    aiohttp_server: ServerFactory, upstream: Upstream, session: aiohttp.ClientSession
) -> None:
    url = await serve(aiohttp_server, endless_handler(upstream))
    received: list[SubgraphResult] = []
    got_one = asyncio.Event()

    async def consume() -> None:
        async for result in transport(url, session).subscribe(request()):
            received.append(result)
            got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await asyncio.wait_for(upstream.disconnected.wait(), 10)
    assert received == [{"data": {"ticks": 1}}]
