"""The HTTP edge under hostile input: request bodies (gateway.http.body), idle
connections, malformed-request log noise (gateway.http.noise), and large documents
prepared off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import threading
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

import gateway.operation
from gateway.config import Config, LimitsConfig, load_config
from gateway.errors import BadRequestError, PayloadTooLargeError
from gateway.http.app import create_app
from gateway.http.body import decode_body
from gateway.http.noise import MalformedRequestLog

SHOP = Path(__file__).parent / "fixtures" / "shop.yaml"
QUERY = orjson.dumps({"query": "{ topProducts(first: 1) { name } }"})
ANSWER = {"data": {"topProducts": [{"name": "Product 1"}]}}


def shop(**limits: Any) -> Config:
    return load_config(SHOP).with_overrides(
        limits=LimitsConfig(**limits), max_request_bytes=1024 * 1024
    )


async def raw_exchange(port: int, data: bytes, *, wait_close: bool = True) -> bytes:
    """Send raw bytes; what the server answers until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if wait_close:
            return await asyncio.wait_for(reader.read(), 30)
        return await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()


@pytest.fixture
async def server(aiohttp_server: Any) -> Any:
    async def start(config: Config) -> Any:
        return await aiohttp_server(create_app(config))

    return start


# -- Content-Encoding -------------------------------------------------------------------


def test_gzip_and_deflate_bodies_are_decoded() -> None:
    assert decode_body("gzip", gzip.compress(QUERY), 1 << 20) == QUERY
    assert decode_body("deflate", zlib.compress(QUERY), 1 << 20) == QUERY
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode_body("deflate", raw.compress(QUERY) + raw.flush(), 1 << 20) == QUERY
    assert decode_body("identity", QUERY, 1 << 20) == QUERY


def test_a_compression_bomb_stops_at_the_body_limit() -> None:
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))  # 50 MB of spaces, ~50 KB sent
    with pytest.raises(PayloadTooLargeError):
        decode_body("gzip", bomb, 1024 * 1024)


@pytest.mark.parametrize(
    ("encoding", "body", "code", "status"),
    [
        ("gzip", b"this is not gzip", "BAD_CONTENT_ENCODING", 400),
        ("deflate", b"this is not deflate", "BAD_CONTENT_ENCODING", 400),
        ("gzip", gzip.compress(QUERY)[:-12], "BAD_CONTENT_ENCODING", 400),
        ("br", b"whatever", "UNSUPPORTED_CONTENT_ENCODING", 415),
        ("foo", b"whatever", "UNSUPPORTED_CONTENT_ENCODING", 415),
    ],
    ids=["bad gzip", "bad deflate", "truncated gzip", "brotli", "unknown"],
)
async def test_a_body_that_does_not_decode_is_a_graphql_error_not_a_500(
    server: Any, encoding: str, body: bytes, code: str, status: int
) -> None:
    app = await server(shop())
    with pytest.raises(BadRequestError) as caught:
        decode_body(encoding, body, 1 << 20)
    assert caught.value.code == code
    response = await app_post(app, body, {"Content-Encoding": encoding})
    assert response["status"] == status
    assert response["json"]["errors"][0]["extensions"]["code"] == code


async def test_a_gzip_body_runs_the_query(server: Any) -> None:
    app = await server(shop())
    response = await app_post(app, gzip.compress(QUERY), {"Content-Encoding": "gzip"})
    assert response["status"] == 200 and response["json"] == ANSWER


async def app_post(app: Any, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = await raw_exchange(
        app.port,
        (
            f"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n{head}\r\n"
        ).encode()
        + body,
    )
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return {"status": int(status_line.split()[1]), "json": orjson.loads(payload)}


# -- slow bodies and idle connections ---------------------------------------------------


async def test_a_partial_body_gets_408_and_the_connection_closes(server: Any) -> None:
    app = await server(shop(body_read_timeout=0.2))
    raw = await raw_exchange(
        app.port,
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    assert raw.startswith(b"HTTP/1.1 408")
    assert b'"REQUEST_TIMEOUT"' in raw


async def test_an_endless_chunked_body_gets_408_and_the_connection_closes(
    server: Any,
) -> None:
    app = await server(shop(body_read_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    async def trickle() -> None:
        while True:
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            await asyncio.sleep(0.02)

    feeding = asyncio.ensure_future(trickle())
    try:
        # Read as it comes, not to EOF: the server closes with our trickle still
        # arriving, and the kernel answers those bytes with a reset. What arrived
        # before the reset (the 408) is read first; the reset only ends the stream.
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)
        feeding.cancel()
        # The connection closes: the stream ends (EOF, or the reset) instead of
        # waiting for more (wait_for fails the test after 30 s).
        with contextlib.suppress(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 30)
    finally:
        feeding.cancel()
        writer.close()
    assert raw.startswith(b"HTTP/1.1 408")


async def test_an_idle_keep_alive_connection_is_closed(server: Any) -> None:
    app = await server(shop(keepalive_timeout=0.2))
    reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
    writer.write(
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )  # keep-alive by default in HTTP/1.1
    await writer.drain()
    received = await asyncio.wait_for(reader.read(), 30)  # EOF: the server closed
    writer.close()
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b'{"status": "ok"}')


# -- log noise --------------------------------------------------------------------------


def _record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("127.0.0.1",),
        (type(exc), exc, None),
    )


def test_malformed_request_noise_is_one_warning_a_minute_per_kind() -> None:
    from aiohttp import http_exceptions

    now = [0.0]
    noise = MalformedRequestLog(interval=60, clock=lambda: now[0])
    bad_line = http_exceptions.BadStatusLine("GARBAGE")
    bad_chunk = http_exceptions.TransferEncodingError("bad chunk")
    passed = [noise.filter(_record(bad_line)) for _ in range(50)]
    assert passed.count(True) == 1
    assert noise.filter(_record(bad_chunk))  # another kind: its own minute
    now[0] = 61
    record = _record(bad_line)
    assert noise.filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "49 more of this kind" in record.getMessage()
    assert "BadStatusLine" in record.getMessage()


def test_a_server_bug_still_logs_its_traceback() -> None:
    noise = MalformedRequestLog()
    record = _record(ZeroDivisionError("a bug"))
    assert noise.filter(record) and noise.filter(_record(ZeroDivisionError()))
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_malformed_requests_log_no_traceback(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("aiohttp.server")
    noise = MalformedRequestLog()
    logger.addFilter(noise)
    try:
        app = await server(shop())
        corpus = [
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
        ] * 5
        with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
            for data in corpus:
                raw = await raw_exchange(app.port, data)
                assert raw.startswith((b"HTTP/1.0 4", b"HTTP/1.1 4")), raw[:80]
        records = [r for r in caplog.records if r.name == "aiohttp.server"]
        assert records and all(r.exc_info is None for r in records)
        assert all(r.levelno == logging.WARNING for r in records)
        assert len(records) <= 3 and noise.dropped >= len(corpus) - 3
    finally:
        logger.removeFilter(noise)


# -- the event loop stays responsive ----------------------------------------------------


async def test_health_answers_while_a_large_document_is_being_prepared(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await server(shop())
    preparing = threading.Event()
    release = threading.Event()
    build = gateway.operation.OperationCache._build

    def gated_build(self: Any, *args: Any) -> Any:
        preparing.set()
        assert release.wait(30), "the test never released the prepare"
        return build(self, *args)

    monkeypatch.setattr(gateway.operation.OperationCache, "_build", gated_build)
    query = "{ topProducts { " + "name " * 1900 + "} }"  # allowed, over OFF_LOOP_CHARS
    assert len(query) > gateway.operation.OFF_LOOP_CHARS
    order: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def big() -> None:
            async with session.post(
                app.make_url("/graphql"), json={"query": query}
            ) as response:
                assert response.status == 200
                order.append("query")

        async def health() -> None:
            await asyncio.get_running_loop().run_in_executor(None, preparing.wait, 30)
            async with session.get(app.make_url("/health")) as response:
                assert response.status == 200
                order.append("health")
            release.set()

        await asyncio.wait_for(asyncio.gather(big(), health()), 60)
    assert order == ["health", "query"]
