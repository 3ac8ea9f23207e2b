"""A LocalSubgraph served over HTTP and SSE by gateway.http.subgraph_app."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ariadne import MutationType, QueryType, SubscriptionType
from ariadne.contrib.federation import make_federated_schema

from gateway.errors import ConfigError
from gateway.http.subgraph_app import SUBGRAPH, create_subgraph_app
from gateway.local import LocalSubgraph
from gateway.local.standalone import main
from gateway.sse import COMPLETE, HEARTBEAT, Comment, Event, encode_next
from gateway.transports.base import RequestContext, SubgraphRequest
from gateway.transports.sse import SSETransport
from tests.helpers.streams import decode, read_until

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
ServerFactory = Callable[..., Awaitable[TestServer]]

SDL = """
type Query {
  hello(name: String!): String!
  whoami: String
}
type Mutation {
  bump: Int!
}
type Subscription {
  count(to: Int!): Int!
  forever: Int!
  gated: Int!
}
"""

SSE_ACCEPT = {"Accept": "text/event-stream"}
COUNT = "subscription Count($to: Int!) { count(to: $to) }"


class Probe:
    """What the test subgraph's resolvers and lifespan report to the test."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []
        self.bumps = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.closed = asyncio.Event()


def build_subgraph(probe: Probe) -> LocalSubgraph:
    query = QueryType()
    mutation = MutationType()
    subscription = SubscriptionType()

    @query.field("hello")
    def resolve_hello(_: Any, info: Any, name: str) -> str:
        return f"hello {name}"

    @query.field("whoami")
    def resolve_whoami(_: Any, info: Any) -> str | None:
        user: str | None = info.context["user"]
        return user

    @mutation.field("bump")
    def resolve_bump(_: Any, info: Any) -> int:
        probe.bumps += 1
        return probe.bumps

    @subscription.source("count")
    async def count_source(_: Any, info: Any, to: int) -> AsyncGenerator[int, None]:
        for n in range(1, to + 1):
            yield n

    @subscription.source("forever")
    async def forever_source(_: Any, info: Any) -> AsyncGenerator[int, None]:
        try:
            yield 1
            await probe.gate.wait()
            yield 2
            await asyncio.Event().wait()
        finally:
            probe.closed.set()

    @subscription.source("gated")
    async def gated_source(_: Any, info: Any) -> AsyncGenerator[int, None]:
        probe.started.set()
        await probe.gate.wait()
        yield 1

    for name in ("count", "forever", "gated"):
        subscription.set_field(name, lambda value, info, **_: value)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        probe.lifespan.append("enter")
        try:
            yield
        finally:
            probe.lifespan.append("exit")

    def context(request: RequestContext) -> dict[str, Any]:
        return {"user": request.headers.get("X-User")}

    schema = make_federated_schema(SDL, query, mutation, subscription)
    return LocalSubgraph(schema=schema, sdl=SDL, lifespan=lifespan, context=context)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, probe: Probe
) -> TestClient[web.Request, web.Application]:
    app = create_subgraph_app(build_subgraph(probe), heartbeat_interval=3600)
    return await aiohttp_client(app)


# --- GraphQL over HTTP ------------------------------------------------------------------


async def test_post_query_answers_json(client: TestClient[Any, Any]) -> None:
    response = await client.post("/graphql", json={"query": '{ hello(name: "a") }'})
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {"data": {"hello": "hello a"}}


async def test_resolvers_get_the_subgraphs_context_built_from_the_request(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ whoami }"}, headers={"X-User": "ada"}
    )
    assert await response.json() == {"data": {"whoami": "ada"}}


async def test_federation_service_sdl_is_served(client: TestClient[Any, Any]) -> None:
    response = await client.post("/graphql", json={"query": "{ _service { sdl } }"})
    body = await response.json()
    assert "count(to: Int!): Int!" in body["data"]["_service"]["sdl"]


async def test_get_query_reads_query_parameters(client: TestClient[Any, Any]) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query Q($n: String!) { hello(name: $n) }",
            "variables": '{"n": "b"}',
            "operationName": "Q",
        },
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert await response.json() == {"data": {"hello": "hello b"}}


async def test_get_mutation_is_405(client: TestClient[Any, Any], probe: Probe) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation { bump }"},
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert probe.bumps == 0


async def test_post_mutation_runs(client: TestClient[Any, Any], probe: Probe) -> None:
    response = await client.post("/graphql", json={"query": "mutation { bump }"})
    assert await response.json() == {"data": {"bump": 1}}
    assert probe.bumps == 1


async def test_graphql_response_json_answers_validation_errors_with_400(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ nope }"},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status == 400
    assert response.content_type == "application/graphql-response+json"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in body


async def test_application_json_answers_validation_errors_with_200(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post("/graphql", json={"query": "{ nope }"})
    assert response.status == 200
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_bad_variables_are_bad_user_input(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "query Q($n: String!) { hello(name: $n) }", "variables": {}},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST"),
        (b"[1, 2]", "application/json", 400, "BAD_REQUEST"),
        (b'{"query": 5}', "application/json", 400, "BAD_REQUEST"),
        (
            b'{"query": "{ hello }", "variables": "{"}',
            "application/json",
            400,
            "BAD_REQUEST",
        ),
        (
            b"query=x",
            "application/x-www-form-urlencoded",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ],
)
async def test_malformed_requests_get_a_clear_error(
    client: TestClient[Any, Any], body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post(
        "/graphql",
        data=body,
        # past CSRF prevention, to the content-type rule
        headers={"Content-Type": content_type, "X-Requested-With": "test"},
    )
    assert response.status == status
    assert (await response.json())["errors"][0]["extensions"]["code"] == code


async def test_subscription_without_an_event_stream_is_refused(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post("/graphql", json={"query": "subscription { forever }"})
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_REQUIRES_STREAM"


async def test_health(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "streams": 0}


# --- GraphQL over SSE ----------------------------------------------------------------------


async def test_sse_subscription_frames_are_exact(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/graphql", json={"query": COUNT, "variables": {"to": 3}}, headers=SSE_ACCEPT
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Connection"] == "keep-alive"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert await response.read() == (
        encode_next({"data": {"count": 1}})
        + encode_next({"data": {"count": 2}})
        + encode_next({"data": {"count": 3}})
        + COMPLETE
    )


async def test_stream_path_serves_get_subscriptions_as_eventsource_does(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get(
        "/graphql/stream",
        params={"query": COUNT, "variables": '{"to": 2}'},
        headers=SSE_ACCEPT,
    )
    assert response.status == 200
    frames = decode(await response.read())
    assert frames == [
        Event("next", '{"data":{"count":1}}', ""),
        Event("next", '{"data":{"count":2}}', ""),
        Event("complete", "", ""),
    ]


async def test_stream_path_streams_without_an_accept_header(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql/stream", json={"query": COUNT, "variables": {"to": 1}}
    )
    assert response.content_type == "text/event-stream"
    assert [f.event for f in decode(await response.read()) if isinstance(f, Event)] == [
        "next",
        "complete",
    ]


async def test_query_over_sse_is_one_next_then_complete(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql", json={"query": '{ hello(name: "c") }'}, headers=SSE_ACCEPT
    )
    assert await response.read() == (
        encode_next({"data": {"hello": "hello c"}}) + COMPLETE
    )


async def test_validation_errors_on_a_stream_are_one_next_then_complete(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql", json={"query": "subscription { nope }"}, headers=SSE_ACCEPT
    )
    assert response.status == 200
    frames = decode(await response.read())
    assert [f.event for f in frames if isinstance(f, Event)] == ["next", "complete"]
    first = frames[0]
    assert isinstance(first, Event)
    payload = orjson.loads(first.data)
    assert payload["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_bad_variables_on_a_stream_are_one_next_then_complete(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql/stream", json={"query": COUNT, "variables": {"to": "x"}}
    )
    frames = decode(await response.read())
    first = frames[0]
    assert isinstance(first, Event)
    assert orjson.loads(first.data)["errors"][0]["extensions"]["code"] == (
        "BAD_USER_INPUT"
    )
    assert frames[-1] == Event("complete", "", "")


async def test_unparseable_stream_request_is_400_before_any_stream(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql", json={"query": "subscription {"}, headers=SSE_ACCEPT
    )
    assert response.status == 400
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"

    response = await client.post(
        "/graphql/stream",
        data=b"{",
        headers={**SSE_ACCEPT, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_headers_are_flushed_before_the_first_event(
    client: TestClient[Any, Any], probe: Probe
) -> None:
    response = await client.post(
        "/graphql", json={"query": "subscription { gated }"}, headers=SSE_ACCEPT
    )
    # The headers arrived while the source still waits for its gate.
    assert response.status == 200
    await asyncio.wait_for(probe.started.wait(), 10)
    assert not probe.gate.is_set()
    probe.gate.set()
    assert await response.read() == encode_next({"data": {"gated": 1}}) + COMPLETE


async def test_idle_stream_gets_heartbeats(
    aiohttp_client: ClientFactory, probe: Probe
) -> None:
    app = create_subgraph_app(build_subgraph(probe), heartbeat_interval=0.05)
    client = await aiohttp_client(app)
    response = await client.post(
        "/graphql", json={"query": "subscription { forever }"}, headers=SSE_ACCEPT
    )
    first = encode_next({"data": {"forever": 1}})
    received = await read_until(response, first + HEARTBEAT)
    assert received.startswith(first + HEARTBEAT)
    probe.gate.set()
    received += await read_until(response, b'"forever":2')
    assert decode(received.split(b'event: next\ndata: {"data":{"forever":2')[0]) == [
        Event("next", '{"data":{"forever":1}}', ""),
        *[Comment("")] * received.count(HEARTBEAT),
    ]
    response.close()


async def test_client_disconnect_closes_the_subscription(
    client: TestClient[Any, Any], probe: Probe
) -> None:
    response = await client.post(
        "/graphql", json={"query": "subscription { forever }"}, headers=SSE_ACCEPT
    )
    await read_until(response, b'"forever":1')
    assert not probe.closed.is_set()
    response.close()
    await asyncio.wait_for(probe.closed.wait(), 10)
    health = await client.get("/health")
    assert (await health.json())["streams"] == 0


async def test_shutdown_ends_open_streams_with_an_error_then_complete(
    aiohttp_server: ServerFactory, probe: Probe
) -> None:
    app = create_subgraph_app(build_subgraph(probe), heartbeat_interval=3600)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            server.make_url("/graphql/stream"),
            json={"query": "subscription { forever }"},
        )
        received = await read_until(response, b'"forever":1')
        assert len(app[SUBGRAPH].streams) == 1
        closing = asyncio.create_task(server.close())
        received += await response.read()
        await closing
    frames = decode(received)
    assert [f.event for f in frames if isinstance(f, Event)] == [
        "next",
        "next",
        "complete",
    ]
    last_next = frames[1]
    assert isinstance(last_next, Event)
    error = orjson.loads(last_next.data)["errors"][0]
    assert error["extensions"]["code"] == "SHUTTING_DOWN"
    assert probe.closed.is_set()


async def test_lifespan_is_entered_at_startup_and_exited_at_cleanup(
    aiohttp_server: ServerFactory, probe: Probe
) -> None:
    server = await aiohttp_server(create_subgraph_app(build_subgraph(probe)))
    assert probe.lifespan == ["enter"]
    await server.close()
    assert probe.lifespan == ["enter", "exit"]


# --- the upstream SSE client against this server ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/graphql/stream"), ("POST", "/graphql")]
)
async def test_sse_transport_round_trips_through_the_subgraph_server(
    client: TestClient[Any, Any], method: Any, path: str
) -> None:
    url = str(client.make_url(path))
    async with aiohttp.ClientSession() as session:
        transport = SSETransport("test", url, session, method=method)
        request = SubgraphRequest(query=COUNT, variables={"to": 3})
        results = [result async for result in transport.subscribe(request)]
    assert results == [{"data": {"count": n}} for n in (1, 2, 3)]


# --- command line --------------------------------------------------------------------------


def test_main_reports_a_bad_factory_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def factory(options: Mapping[str, Any]) -> LocalSubgraph:
        raise ConfigError("CLAUDE_DB is not set")

    assert main(factory, default_port=0, argv=["--log-level", "error"]) == 2
    assert "CLAUDE_DB is not set" in caplog.text


def test_main_reports_a_port_in_use(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            lambda options: build_subgraph(probe),
            default_port=port,
            argv=["--host", "127.0.0.1"],
        )
    assert code == 1
    assert "cannot listen" in caplog.text


async def test_a_standalone_subgraph_refuses_rebound_hosts_and_foreign_pages(
    aiohttp_client: ClientFactory, probe: Probe
) -> None:
    app = create_subgraph_app(build_subgraph(probe), allowed_hosts=("claude",))
    client = await aiohttp_client(app)
    mutation = {"query": "mutation { bump }"}
    rebound = await client.post(
        "/graphql", json=mutation, headers={"Host": "rebind.evil.example"}
    )
    assert rebound.status == 421
    foreign = await client.post(
        "/graphql", json=mutation, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    simple = await client.post(
        "/graphql/stream",
        data=b'{"query": "mutation { bump }"}',
        headers={"Content-Type": "text/plain"},
    )
    assert simple.status == 400
    assert probe.bumps == 0
    # The gateway reaching it by the name in its routing_url is served.
    named = await client.post(
        "/graphql", json=mutation, headers={"Host": "claude:4001"}
    )
    assert await named.json() == {"data": {"bump": 1}}


async def test_a_standalone_subgraph_applies_the_same_operation_limits(
    client: TestClient[Any, Any],
) -> None:
    aliases = " ".join(f'a{i}: hello(name: "x")' for i in range(500))
    response = await client.post("/graphql", json={"query": "{ " + aliases + " }"})
    body = await response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MAX_ALIASES_LIMIT"]
    flood = "{ " + "__typename " * 50_000 + "}"
    response = await client.post("/graphql", json={"query": flood})
    body = await response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MAX_TOKENS_LIMIT"]


async def test_a_standalone_subgraph_answers_a_bad_gzip_body_with_400(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/graphql",
        data=b"not gzip",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_CONTENT_ENCODING"
