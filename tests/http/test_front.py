"""The HTTP/1.1 front (gateway.http.front) and its GraphQL lane: what the lane answers
is what aiohttp's handler answers, and every request the lane does not take reaches
aiohttp intact, on the same connection."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.config import Config, LimitsConfig, load_config
from gateway.http import noise
from gateway.http.app import GraphQLLane, create_app
from gateway.http.front import FRONT_LOGGER, FrontProtocol, FrontSite

CONFIG = """\
version: 1
subgraphs:
  - name: products
    module: tests.fixtures.shop:products
  - name: reviews
    module: tests.fixtures.shop:reviews
  - name: clock
    module: tests.fixtures.clock:clock
gateway:
  max_request_bytes: 4096
"""

TOP = orjson.dumps({"query": "{ topProducts(first: 2) { name reviews { body } } }"})


def config(tmp_path: Path, **limits: Any) -> Config:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    loaded = load_config(path)
    if limits:
        loaded = loaded.with_overrides(limits=LimitsConfig(**limits))
    return loaded


@contextlib.asynccontextmanager
async def serving(
    config: Config, *, front: bool = True, keepalive_timeout: float = 75.0
) -> AsyncIterator[tuple[int, FrontSite | None]]:
    """The gateway's app on a free port, behind the front (or aiohttp alone)."""
    app = create_app(config)
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
    )
    await runner.setup()
    site: web.TCPSite
    if front:
        site = FrontSite(
            runner,
            "127.0.0.1",
            0,
            lane=GraphQLLane(app),
            keepalive_timeout=keepalive_timeout,
            shutdown_timeout=2.0,
        )
    else:
        site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.port, site if isinstance(site, FrontSite) else None
    finally:
        await runner.cleanup()


def counts(site: FrontSite | None) -> tuple[int, int]:
    assert site is not None and site.front is not None
    return site.front.answered, site.front.handoffs


def without_ids(body: bytes) -> Any:
    """The JSON body with each error's request id (different per request) removed."""
    value = orjson.loads(body)
    for error in value.get("errors") or ():
        (error.get("extensions") or {}).pop("requestId", None)
    return value


async def read_response(
    reader: asyncio.StreamReader,
) -> tuple[bytes, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length: status line, headers, body."""
    status = await reader.readline()
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def post(body: bytes, *extra: str) -> bytes:
    head = [
        "POST /graphql HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# -- the lane answers as aiohttp does -----------------------------------------------


def _apq(query: str) -> bytes:
    digest = hashlib.sha256(b"{ never sent }").hexdigest()
    return orjson.dumps(
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    )


SAME_ANSWERS: list[tuple[str, bytes, dict[str, str]]] = [
    ("a query across two subgraphs", TOP, {}),
    ("a syntax error", b'{"query": "{ topProducts("}', {}),
    ("a validation error", b'{"query": "{ nope }"}', {}),
    (
        "a validation error in GraphQL response JSON (4xx)",
        b'{"query": "{ nope }"}',
        {"Accept": "application/graphql-response+json"},
    ),
    (
        "a missing variable",
        b'{"query": "query($n: Int!) { topProducts(first: $n) { name } }"}',
        {},
    ),
    ("a body that is not JSON", b"not json", {}),
    ("a body that is not an object", b"[1, 2]", {}),
    ("an empty body", b"", {}),
    ("no query", b'{"variables": {}}', {}),
    ("an unknown persisted query", _apq("x"), {}),
    (
        "a mutation",
        b'{"query": "mutation { setPrice(upc: \\"1\\", price: 5) { price } }"}',
        {},
    ),
    ("a subscription without a stream", b'{"query": "subscription { beats }"}', {}),
    (
        "an operation name that is not there",
        b'{"query": "{ clockName }", "operationName": "X"}',
        {},
    ),
    (
        "Accept: */* (curl)",
        b'{"query": "{ clockName }"}',
        {"Accept": "*/*"},
    ),
]


@pytest.mark.parametrize(
    ("body", "headers"),
    [(body, headers) for _, body, headers in SAME_ANSWERS],
    ids=[name for name, _, _ in SAME_ANSWERS],
)
async def test_the_lane_answers_what_aiohttp_answers(
    tmp_path: Path, body: bytes, headers: dict[str, str]
) -> None:
    headers = {"Content-Type": "application/json", **headers}
    answers = []
    for front in (True, False):
        async with serving(config(tmp_path), front=front) as (port, site):
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"http://127.0.0.1:{port}/graphql", data=body, headers=headers
                ) as response:
                    answers.append(
                        (
                            response.status,
                            response.headers["Content-Type"],
                            without_ids(await response.read()),
                            response.headers["X-Request-Id"] != "",
                        )
                    )
            if site is not None:
                assert counts(site) == (1, 0)  # the lane answered it
    assert answers[0] == answers[1]


async def test_the_request_id_the_access_log_and_metrics_are_the_edges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with serving(config(tmp_path)) as (port, site):
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/graphql",
                data=TOP,
                headers={"Content-Type": "application/json", "X-Request-Id": "abc-123"},
            ) as response:
                assert response.status == 200
                assert response.headers["X-Request-Id"] == "abc-123"
        assert site is not None
        metrics = site._lane.metrics.exposition().decode()  # type: ignore[attr-defined]
        assert counts(site) == (1, 0)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert any(
        '"POST /graphql" 200' in line
        and "query -" in line
        and "fetches=2" in line
        and "request_id=abc-123" in line
        for line in lines
    ), lines
    assert 'outcome="success"' in metrics and 'operation_type="query"' in metrics


# -- everything else reaches aiohttp ------------------------------------------------


async def test_a_connection_that_asks_for_something_else_goes_to_aiohttp(
    tmp_path: Path,
) -> None:
    async with serving(config(tmp_path)) as (port, site):
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"http://127.0.0.1:{port}"
            json = {"Content-Type": "application/json"}
            async with session.post(f"{url}/graphql", data=TOP, headers=json) as r:
                first = await r.json()
            async with session.get(f"{url}/health") as r:
                assert r.status == 200
            async with session.post(f"{url}/graphql", data=TOP, headers=json) as r:
                assert await r.json() == first
        # One connection: the lane answered the first request, aiohttp the rest.
        assert counts(site) == (1, 1)
    assert first["data"]["topProducts"][0]["reviews"]


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        (["Origin: http://evil.test"], 403, "ORIGIN_NOT_ALLOWED"),
        (["Origin: http://127.0.0.1"], 200, None),
        (["Host: evil.test"], 421, "HOST_NOT_ALLOWED"),
    ],
    ids=["a foreign origin", "its own origin", "a rebound host"],
)
async def test_browser_guards_stay_aiohttps(
    tmp_path: Path, extra: list[str], status: int, code: str | None
) -> None:
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = post(TOP, *extra)
        if extra[0].startswith("Host:"):
            data = data.replace(b"Host: 127.0.0.1\r\n", b"")
        writer.write(data)
        line, _, body = await read_response(reader)
        writer.close()
        assert int(line.split()[1]) == status
        if code is not None:
            assert orjson.loads(body)["errors"][0]["extensions"]["code"] == code
        assert counts(site) == (0, 1)


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    other = orjson.dumps({"query": "{ clockName }"})
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(TOP) + post(other) + post(TOP))
        answers = [orjson.loads((await read_response(reader))[2]) for _ in range(3)]
        writer.close()
        assert counts(site) == (0, 1)
    assert "topProducts" in answers[0]["data"]
    assert "clockName" in answers[1]["data"]
    assert answers[2] == answers[0]


async def test_a_request_split_across_reads_is_the_lanes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: asyncio.Queue[int] = asyncio.Queue()
    received = FrontProtocol.data_received

    def counted(self: FrontProtocol, data: bytes) -> None:
        received(self, data)
        reads.put_nowait(len(data))

    monkeypatch.setattr(FrontProtocol, "data_received", counted)
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = post(TOP)
        for piece in (data[:20], data[20:-10], data[-10:]):
            writer.write(piece)
            await writer.drain()
            # Each piece is read on its own before the next is sent.
            got = 0
            while got < len(piece):
                got += await asyncio.wait_for(reads.get(), 30)
        line, _, body = await read_response(reader)
        writer.close()
        assert line.startswith(b"HTTP/1.1 200")
        assert "topProducts" in orjson.loads(body)["data"]
        assert counts(site) == (1, 0)


async def test_a_stalled_body_goes_to_aiohttp_and_gets_its_408(tmp_path: Path) -> None:
    async with serving(config(tmp_path, body_read_timeout=0.3)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(TOP)[:-5])  # the last bytes never come
        line, _, body = await asyncio.wait_for(read_response(reader), 30)
        writer.close()
        assert line.startswith(b"HTTP/1.1 408")
        assert (
            orjson.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
        )
        assert counts(site) == (0, 1)


@pytest.mark.parametrize(
    "data",
    [
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
    ],
    ids=["a bad Content-Length", "garbage", "a space in a header name"],
)
async def test_a_request_that_is_not_http_gets_a_json_400_and_the_connection_closes(
    tmp_path: Path,
    data: bytes,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    front_logger = logging.getLogger(FRONT_LOGGER)
    monkeypatch.setattr(front_logger, "filters", [])  # a fresh once-a-minute filter
    noise.install(FRONT_LOGGER)
    caplog.set_level(logging.WARNING, logger=FRONT_LOGGER)
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        line, headers, body = await asyncio.wait_for(read_response(reader), 30)
        assert await asyncio.wait_for(reader.read(), 30) == b""  # closed
        writer.close()
        assert counts(site) == (0, 0)
    assert line.startswith(b"HTTP/1.1 400")
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["connection"] == "close"
    error = orjson.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("malformed HTTP request: ")
    logged = [r for r in caplog.records if r.name == FRONT_LOGGER]
    assert logged and logged[-1].levelno == logging.WARNING
    assert logged[-1].getMessage().startswith("malformed request (")
    assert logged[-1].exc_info is None  # no traceback for a client's mistake


async def test_a_header_over_aiohttps_limit_gets_aiohttps_400(tmp_path: Path) -> None:
    data = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        + b"a" * 9000
        + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        answer = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        assert answer.split()[1] == b"400", answer
        assert counts(site) == (0, 1)


async def test_chunked_compressed_and_oversized_bodies_are_aiohttps(
    tmp_path: Path,
) -> None:
    async with serving(config(tmp_path)) as (port, site):
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/graphql"
            headers = {"Content-Type": "application/json"}

            async def chunks() -> AsyncIterator[bytes]:
                yield TOP[:10]
                yield TOP[10:]

            async with session.post(url, data=chunks(), headers=headers) as r:
                assert r.status == 200
                assert "topProducts" in (await r.json())["data"]
            gzipped = {**headers, "Content-Encoding": "gzip"}
            async with session.post(url, data=gzip.compress(TOP), headers=gzipped) as r:
                assert r.status == 200
            big = b'{"query": "{ clockName }", "x": "' + b"a" * 5000 + b'"}'
            async with session.post(url, data=big, headers=headers) as r:
                assert r.status == 413
        assert counts(site)[0] == 0


async def test_a_websocket_upgrade_reaches_aiohttp(tmp_path: Path) -> None:
    async with serving(config(tmp_path)) as (port, site):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                f"http://127.0.0.1:{port}/graphql",
                protocols=("graphql-transport-ws",),
            ) as ws:
                await ws.send_json({"type": "connection_init"})
                assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        assert counts(site) == (0, 1)


async def test_connection_close_is_honoured(tmp_path: Path) -> None:
    async with serving(config(tmp_path)) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(TOP, "Connection: close"))
        answer = await asyncio.wait_for(reader.read(), 30)  # to the server's close
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"\r\nConnection: close\r\n" in answer
        assert counts(site) == (1, 0)


async def test_idle_connections_close_after_the_keepalive_timeout(
    tmp_path: Path,
) -> None:
    async with serving(config(tmp_path), keepalive_timeout=0.2) as (port, site):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(TOP))
        line, _, _ = await read_response(reader)
        assert line.startswith(b"HTTP/1.1 200")
        assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the server
        writer.close()
        assert counts(site) == (1, 0)


async def test_shutdown_closes_idle_connections(tmp_path: Path) -> None:
    async with serving(config(tmp_path)) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(TOP))
        await read_response(reader)
    assert await asyncio.wait_for(reader.read(), 30) == b""
    writer.close()


async def test_a_client_that_goes_away_leaves_nothing_busy(tmp_path: Path) -> None:
    async with serving(config(tmp_path)) as (port, site):
        for _ in range(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post(TOP))
            await writer.drain()
            writer.transport.abort()
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/graphql",
                data=TOP,
                headers={"Content-Type": "application/json"},
            ) as response:
                assert response.status == 200
        assert site is not None and site.front is not None
        await asyncio.wait_for(site.front.quiet(), 30)
        assert site.front.busy == 0
