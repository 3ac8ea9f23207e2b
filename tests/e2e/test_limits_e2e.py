"""Issue 11 end to end: the real ``gateway serve`` under hostile input stays bounded
(counts and order of completion, never timings), and answers ``/health`` afterwards."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.helpers.processes import GatewayProcess, StartGateway, free_port

SSE = {"Accept": "text/event-stream"}
SUBSCRIBE = 'subscription { messages(topic: "burst") { seq text } }'


def write_config(
    tmp_path: Path, *, limits: str = "", gateway: str = "", extra: str = ""
) -> Path:
    lines = [
        "version: 1",
        "subgraphs:",
        "  - name: ticker",
        "    module: tests.fixtures.ticker:ticker",
        "  - name: products",
        "    module: tests.fixtures.shop:products",
        extra,
        "gateway:",
        "  heartbeat_interval: 3600",
        gateway,
    ]
    if limits:
        lines += ["  limits:", *(f"    {line}" for line in limits.strip().splitlines())]
    path = tmp_path / f"supergraph-{free_port()}.yaml"
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return path


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, gateway: GatewayProcess, query: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(gateway.url, json={"query": query, **kw}) as response:
        return response.status, await response.json()


async def healthy(session: aiohttp.ClientSession, gateway: GatewayProcess) -> bool:
    async with session.get(f"{gateway.base}/health") as response:
        return response.status == 200 and (await response.json()) == {"status": "ok"}


def no_traceback(gateway: GatewayProcess) -> None:
    output = gateway.output()
    assert "Traceback" not in output, output[-4000:]


def rss_kib(gateway: GatewayProcess) -> int:
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


# -- 11: operation limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            "{ " + " ".join(f"a{i}: topProducts {{ name }}" for i in range(500)) + " }",
            "MAX_ALIASES_LIMIT",
        ),
        (
            '{ history(topic: "x") { seq text product { name } } '
            "topProducts { name price } }",
            None,
        ),
        ("{ " + "__typename " * 400_000 + "}", "MAX_TOKENS_LIMIT"),
        (
            "{ "
            + " ".join(
                f"t{i}: topProducts(first: 100000) {{ name }}" for i in range(50)
            )
            + " }",
            "MAX_COMPLEXITY_LIMIT",
        ),
    ],
    ids=["500 aliases", "a sane query", "typename flood", "list fan-out"],
)
async def test_operation_limits_refuse_floods_before_they_run(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    query: str,
    code: str | None,
) -> None:
    gateway = await start_gateway(write_config(tmp_path))
    status, body = await post(session, gateway, query)
    if code is None:
        assert status == 200 and "errors" not in body, body
    else:
        assert status == 200  # application/json: document errors keep 200
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
        assert "data" not in body
    async with session.post(
        gateway.url,
        json={"query": query},
        headers={"Accept": "application/graphql-response+json"},
    ) as response:
        assert response.status == (200 if code is None else 400)
    assert await healthy(session, gateway)
    no_traceback(gateway)


async def test_sixty_levels_of_nesting_are_refused_with_max_depth_limit(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(write_config(tmp_path, limits="depth: 8"))
    deep = (
        "{ __schema { "
        + "types { fields { type { " * 20
        + "name"
        + " } } }" * 20
        + " } }"
    )
    _, body = await post(session, gateway, deep)
    assert body["errors"][0]["extensions"]["code"] == "MAX_DEPTH_LIMIT"
    assert await healthy(session, gateway)


# -- 1: caches bounded by bytes ---------------------------------------------------------


@pytest.mark.slow
async def test_forty_distinct_large_bad_documents_do_not_pin_memory(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(write_config(tmp_path))
    await post(session, gateway, "{ topProducts { name } }")  # warm up
    before = rss_kib(gateway)
    for i in range(40):
        # ~2 MB each: parse errors (the case), and a few token floods
        if i % 8:
            flood = f"{{ a{i}: ) " + "__typename " * 200_000 + "}"
        else:
            flood = f"{{ a{i}: " + "__typename " * 200_000 + "}"
        status, body = await post(session, gateway, flood)
        assert status == 200 and body["errors"][0]["extensions"]["code"] in (
            "MAX_TOKENS_LIMIT",
            "GRAPHQL_PARSE_FAILED",
        )
    for _ in range(1000):  # one bad document, repeated
        status, body = await post(session, gateway, "{ hello(name: ) }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    grown = rss_kib(gateway) - before
    # 40 documents of 2 MB and their errors: before the fix, 40 x 4.8 MB took 770 MB.
    assert grown < 120 * 1024, f"RSS grew by {grown} KiB"
    assert await healthy(session, gateway)
    no_traceback(gateway)


# -- 2: the event loop stays responsive -------------------------------------------------


async def test_health_completes_before_a_huge_allowed_document_is_prepared(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    limits = """
max_tokens: {enabled: false}
aliases: {enabled: false}
root_fields: {enabled: false}
total_fields: {enabled: false}
"""
    gateway = await start_gateway(
        write_config(tmp_path, limits=limits, gateway="  max_request_bytes: 8MB")
    )
    # 10 000 distinct aliases: seconds of parsing and validation, allowed here.
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(10_000)) + " }"
    order: list[str] = []

    async def big() -> None:
        status, body = await post(session, gateway, query)
        assert status == 200 and len(body["data"]) == 10_000
        order.append("query")

    async def health() -> None:
        assert await healthy(session, gateway)
        order.append("health")

    task = asyncio.ensure_future(big())
    await asyncio.sleep(0)  # the query's request is on its way first
    await asyncio.gather(*(health() for _ in range(5)))
    await task
    assert order.index("query") == 5, order  # every /health before the query


# -- 3: streams are always released -----------------------------------------------------


@pytest.mark.slow
async def test_two_thousand_clients_dropped_during_a_burst_leave_no_stream_behind(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    slots = 40
    gateway = await start_gateway(
        write_config(
            tmp_path,
            gateway=f"  max_streams: {slots}\n  max_streams_per_client: {slots}",
        )
    )
    bursting = True

    async def burst() -> None:
        while bursting:
            await post(
                session,
                gateway,
                'mutation { burst(topic: "burst", count: 50, size: 2000) }',
            )

    async def drop_one() -> int:
        async with session.post(
            gateway.url, json={"query": SUBSCRIBE}, headers=SSE
        ) as response:
            if response.status != 200:
                return response.status
            await response.content.readany()  # the stream is up
            connection = response.connection
            assert connection is not None and connection.transport is not None
            connection.transport.abort()  # gone, mid-write
            return 200

    publisher = asyncio.ensure_future(burst())
    statuses: list[int] = []
    try:
        for _ in range(2000 // slots):
            statuses += await asyncio.gather(*(drop_one() for _ in range(slots)))
    finally:
        bursting = False
        await publisher
    assert len(statuses) == 2000

    # Every slot comes back: the gateway closes what it was writing to. A leaked
    # registry entry would hold one forever.
    async def all_slots_free() -> bool:
        opened = [
            await session.post(gateway.url, json={"query": SUBSCRIBE}, headers=SSE)
            for _ in range(slots)
        ]
        ok = all(r.status == 200 for r in opened)
        for response in opened:
            response.close()
        return ok

    for _ in range(100):
        if await all_slots_free():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("a stream slot was never released")
    async with session.post(gateway.url, json={"query": SUBSCRIBE}, headers=SSE) as r:
        assert r.status == 200  # and no 429 for a new client after the storm
    assert await healthy(session, gateway)
    no_traceback(gateway)


# -- 7: subgraph answers are bounded ----------------------------------------------------


BLOB_SDL = "type Query { blob: String }"


async def test_a_huge_subgraph_answer_is_an_error_at_its_path_and_the_rest_stays(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    chunks_sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal chunks_sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(b'{"data": {"blob": "')
            for _ in range(1600):  # 100 MB if anyone read it all
                await response.write(b"x" * 65536)
                chunks_sent += 1
            await response.write(b'"}}')
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_post("/graphql", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        extra = "\n".join(
            [
                "  - name: blob",
                f"    routing_url: http://127.0.0.1:{port}/graphql",
                "    max_response_bytes: 1MB",
                "    schema:",
                f'      sdl: "{BLOB_SDL}"',
            ]
        )
        gateway = await start_gateway(write_config(tmp_path, extra=extra))
        status, body = await post(
            session, gateway, "{ blob topProducts(first: 1) { name } }"
        )
        assert status == 200
        assert body["data"] == {"blob": None, "topProducts": [{"name": "Product 1"}]}
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SUBGRAPH_RESPONSE_TOO_LARGE"
        assert error["path"] == ["blob"]
        assert chunks_sent < 400  # dropped, not read to its end
        assert await healthy(session, gateway)
        no_traceback(gateway)
    finally:
        await runner.cleanup()


# -- 8, 9, 10: the HTTP edge ------------------------------------------------------------


async def raw(gateway: GatewayProcess, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()


def post_bytes(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


async def test_a_bad_content_encoding_is_a_400_graphql_error(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(write_config(tmp_path))
    answer = await raw(
        gateway, post_bytes(b"not gzip at all", "Content-Encoding: gzip")
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"application/json" in head
    assert (
        orjson.loads(body)["errors"][0]["extensions"]["code"] == "BAD_CONTENT_ENCODING"
    )
    good = gzip.compress(orjson.dumps({"query": "{ topProducts(first: 1) { name } }"}))
    answer = await raw(gateway, post_bytes(good, "Content-Encoding: gzip"))
    assert answer.startswith(b"HTTP/1.1 200") and b"Product 1" in answer
    assert await healthy(session, gateway)
    no_traceback(gateway)


async def test_slow_bodies_and_idle_connections_are_closed(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(
        write_config(tmp_path, limits="body_read_timeout: 1s\nkeepalive_timeout: 1s")
    )

    async def partial_body() -> bytes:
        return await raw(
            gateway,
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        )

    async def endless_chunked() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        async def trickle() -> None:
            while True:
                writer.write(b"1\r\n \r\n")
                await writer.drain()
                await asyncio.sleep(0.05)

        feeding = asyncio.ensure_future(trickle())
        try:
            return await asyncio.wait_for(reader.read(), 60)
        finally:
            feeding.cancel()
            writer.close()

    async def idle() -> bytes:
        return await raw(gateway, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")

    answers = await asyncio.gather(
        *(partial_body() for _ in range(50)),
        *(endless_chunked() for _ in range(50)),
        *(idle() for _ in range(20)),
    )
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers[:100])
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers[100:])  # then closed
    assert await healthy(session, gateway)
    no_traceback(gateway)


CORPUS = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
]


async def test_malformed_requests_are_logged_once_per_kind_without_tracebacks(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(write_config(tmp_path))
    for _ in range(10):
        for data in CORPUS:
            answer = await raw(gateway, data)
            assert not answer.startswith(b"HTTP/1.1 5"), answer[:200]
            assert not answer.startswith(b"HTTP/1.0 5"), answer[:200]
    assert await healthy(session, gateway)
    output = gateway.output()
    assert "Traceback" not in output
    warnings = [line for line in output.splitlines() if "malformed request" in line]
    assert 1 <= len(warnings) <= len(CORPUS), output[-4000:]
    assert all(" WARNING " in line for line in warnings)
    assert " ERROR " not in output
