"""The lean HTTP/1.1 client (gateway.transports.h1) against raw loopback servers."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphResponseTooLargeError,
    SubgraphTimeoutError,
    SubgraphUnreachableError,
)
from gateway.transports.base import RequestContext, SubgraphRequest
from gateway.transports.h1 import HTTP1Client, InvalidRequest, _Gate
from gateway.transports.http import HTTPTransport

_Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request (its head and body); False closes the connection."""


class RawServer:
    """A loopback HTTP/1.1 server written on streams, to send any bytes at all."""

    def __init__(self, reply: _Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/graphql"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if not await self.reply(head + body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)
    )


DATA = orjson.dumps({"data": {"a": 1}})


async def _ok(_: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(_answer(DATA))
    return True


async def test_sequential_fetches_reuse_one_keep_alive_connection() -> None:
    async with RawServer(_ok) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        for _ in range(5):
            assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert server.connections == 1
    assert len(server.requests) == 5


async def test_the_request_is_a_json_post_with_host_length_and_forwarded_headers() -> (
    None
):
    async with RawServer(_ok) as server, HTTP1Client() as client:
        await client.post(
            server.url,
            b'{"query":"{ a }"}',
            {"Content-Type": "application/json", "Authorization": "Bearer t"},
            timeout=5,
            limit=1000,
        )
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /graphql HTTP/1.1"
    assert b"Host: 127.0.0.1:" + server.url.split(":")[2].split("/")[0].encode() in (
        lines
    )
    assert b"Authorization: Bearer t" in lines
    assert b"Content-Length: 17" in lines
    assert body == b'{"query":"{ a }"}'


async def test_a_chunked_answer_is_joined() -> None:
    async def chunked(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for part in (DATA[:5], DATA[5:]):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async with RawServer(chunked) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
        assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert server.connections == 1


async def test_an_answer_without_length_ends_with_the_connection() -> None:
    async def until_close(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\n\r\n" + DATA
        )
        return False

    async with RawServer(until_close) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        for _ in range(2):
            assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert server.connections == 2  # "Connection: close" is honoured


async def test_a_gzip_answer_is_decoded() -> None:
    async def gzipped(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(gzip.compress(DATA), extra=b"Content-Encoding: gzip\r\n"))
        return True

    async with RawServer(gzipped) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}


async def test_a_gzip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(b'{"data": {"a": "' + b"x" * 5_000_000 + b'"}}')

    async def gzipped(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(bomb, extra=b"Content-Encoding: gzip\r\n"))
        return True

    async with RawServer(gzipped) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client, max_response_bytes=100_000)
        with pytest.raises(SubgraphResponseTooLargeError):
            await transport.fetch(SubgraphRequest("{ a }"))


async def test_an_unknown_content_coding_is_a_bad_response() -> None:
    async def brotli(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(b"\x00\x01", extra=b"Content-Encoding: br\r\n"))
        return True

    async with RawServer(brotli) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        with pytest.raises(SubgraphBadResponseError):
            await transport.fetch(SubgraphRequest("{ a }"))


async def test_garbage_instead_of_http_is_a_bad_response_naming_no_url() -> None:
    async def garbage(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        return True

    async with RawServer(garbage) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        with pytest.raises(SubgraphBadResponseError) as caught:
            await transport.fetch(SubgraphRequest("{ a }"))
    assert "127.0.0.1" not in str(caught.value)
    assert caught.value.code == "SUBGRAPH_BAD_RESPONSE"


async def test_a_connection_closed_mid_answer_is_unreachable() -> None:
    async def cut(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(DATA)[:-5])
        await writer.drain()
        return False

    async with RawServer(cut) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        with pytest.raises(SubgraphUnreachableError):
            await transport.fetch(SubgraphRequest("{ a }"))


def _closes_after_first(answered: list[int]) -> _Reply:
    """Answers with keep-alive, then closes the idle connection (a server's idle
    timeout) right after answering: the client's next request finds it closed."""

    async def reply(_: bytes, writer: asyncio.StreamWriter) -> bool:
        answered.append(1)
        writer.write(_answer(DATA))
        await writer.drain()
        return False

    return reply


async def test_a_query_on_a_connection_the_server_closed_is_sent_again() -> None:
    answered: list[int] = []
    async with RawServer(_closes_after_first(answered)) as server:
        async with HTTP1Client() as client:
            transport = HTTPTransport("s", server.url, client)
            await transport.fetch(SubgraphRequest("{ a }"))
            # The server's FIN may not have been read yet: whichever way, the next
            # query is answered on a connection that works.
            assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert len(answered) == 2


async def test_a_mutation_is_never_sent_twice() -> None:
    received = 0

    async def swallow(_: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal received
        received += 1
        return False  # closes without answering

    async with RawServer(swallow) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        with pytest.raises(SubgraphUnreachableError):
            await transport.fetch(SubgraphRequest("mutation { a }"))
    assert received == 1


async def test_a_header_value_with_a_line_break_is_not_sent() -> None:
    async with RawServer(_ok) as server, HTTP1Client() as client:
        with pytest.raises(InvalidRequest, match="line break"):
            await client.post(
                server.url,
                b"{}",
                {"X-Evil": "a\r\nInjected: yes"},
                timeout=5,
                limit=1000,
            )
    assert server.requests == []


async def test_a_header_name_that_is_not_a_token_is_not_sent() -> None:
    async with RawServer(_ok) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        context = RequestContext(forward={"s": {"X-Evil: yes\r\nX": "1"}})
        with pytest.raises(SubgraphError) as caught:
            await transport.fetch(SubgraphRequest("{ a }", context=context))
    assert caught.value.code == "SUBGRAPH_REQUEST_INVALID"
    assert server.requests == []


async def test_a_slow_answer_times_out_and_the_connection_is_not_reused() -> None:
    calls = 0

    async def slow_first(_: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        writer.write(_answer(DATA))
        return True

    async with RawServer(slow_first) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client, timeout=0.2)
        with pytest.raises(SubgraphTimeoutError):
            await transport.fetch(SubgraphRequest("{ a }"))
        assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert server.connections == 2


async def test_requests_over_the_per_host_limit_wait_for_a_connection() -> None:
    release = asyncio.Event()
    two_busy = asyncio.Event()
    busy = 0
    most = 0

    async def held(_: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        if busy == 2:
            two_busy.set()
        await release.wait()
        busy -= 1
        writer.write(_answer(DATA))
        return True

    async with RawServer(held) as server, HTTP1Client(limit_per_host=2) as client:
        transport = HTTPTransport("s", server.url, client)
        tasks = [
            asyncio.ensure_future(transport.fetch(SubgraphRequest("{ a }")))
            for _ in range(5)
        ]
        await asyncio.wait_for(two_busy.wait(), 10)
        assert not any(task.done() for task in tasks)
        release.set()
        results: list[Any] = await asyncio.gather(*tasks)
    assert results == [{"data": {"a": 1}}] * 5
    assert most == 2
    assert server.connections == 2


def _held(busy: asyncio.Event, release: asyncio.Event) -> _Reply:
    """Answers once ``release`` is set, after setting ``busy``."""

    async def held(_: bytes, writer: asyncio.StreamWriter) -> bool:
        busy.set()
        await release.wait()
        writer.write(_answer(DATA))
        return True

    return held


def _started(awaitable: Awaitable[Any]) -> tuple[asyncio.Future[Any], asyncio.Event]:
    """``awaitable`` in a task, and an event set when that task has run up to its
    first wait (what it does before waiting, such as joining a line, is done)."""
    started = asyncio.Event()

    async def run() -> Any:
        started.set()  # its waiter runs after this step, which goes on to the wait
        return await awaitable

    return asyncio.ensure_future(run()), started


async def test_a_fetch_waiting_in_line_past_its_deadline_times_out() -> None:
    release, busy = asyncio.Event(), asyncio.Event()
    held = _held(busy, release)

    async with RawServer(held) as server, HTTP1Client(limit_per_host=1) as client:
        slow = HTTPTransport("s", server.url, client)
        hasty = HTTPTransport("s", server.url, client, timeout=0.1)
        first = asyncio.ensure_future(slow.fetch(SubgraphRequest("{ a }")))
        await asyncio.wait_for(busy.wait(), 10)
        with pytest.raises(SubgraphTimeoutError):
            await hasty.fetch(SubgraphRequest("{ a }"))
        release.set()
        assert await first == {"data": {"a": 1}}
        # The slot the timed-out fetch waited for is not lost.
        assert await slow.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    assert server.connections == 1


async def test_a_fetch_cancelled_while_it_holds_the_slot_passes_it_on() -> None:
    release, busy = asyncio.Event(), asyncio.Event()
    held = _held(busy, release)

    async with RawServer(held) as server, HTTP1Client(limit_per_host=1) as client:
        transport = HTTPTransport("s", server.url, client)
        first = asyncio.ensure_future(transport.fetch(SubgraphRequest("{ a }")))
        await asyncio.wait_for(busy.wait(), 10)
        cancelled, in_line = _started(transport.fetch(SubgraphRequest("{ a }")))
        last, too = _started(transport.fetch(SubgraphRequest("{ a }")))
        await asyncio.wait_for(asyncio.gather(in_line.wait(), too.wait()), 10)
        release.set()
        assert await first == {"data": {"a": 1}}
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await asyncio.wait_for(last, 10) == {"data": {"a": 1}}


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_runs_is_not_lost() -> None:
    gate = _Gate(1)
    gate.free = 0  # taken
    loop = asyncio.get_running_loop()
    waiting, in_line = _started(gate.wait(loop.time() + 30))
    await in_line.wait()
    assert len(gate._waiters) == 1
    gate.release()  # handed to the waiter, which has not run yet
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gate.free == 1
    gate.free = 0
    gate.release()  # nobody waits (the cancelled one left the line)
    assert gate.free == 1


async def test_each_fetch_times_out_at_its_own_deadline() -> None:
    async def never(_: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.Event().wait()  # no answer, ever
        return False

    async def quick(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_answer(DATA))
        return True

    async with (
        RawServer(never) as stuck,
        RawServer(quick) as server,
        HTTP1Client() as client,
    ):
        loop = asyncio.get_running_loop()
        ends: dict[float, float] = {}

        async def fetch(timeout: float) -> None:
            transport = HTTPTransport("s", stuck.url, client, timeout=timeout)
            with pytest.raises(SubgraphTimeoutError):
                await transport.fetch(SubgraphRequest("{ a }"))
            ends[timeout] = loop.time()

        began = loop.time()
        fine = HTTPTransport("s", server.url, client, timeout=0.1)
        await asyncio.gather(
            fetch(0.4), fetch(0.1), fetch(0.25), fine.fetch(SubgraphRequest("{ a }"))
        )
        # In the order of their deadlines, none before it (answers that come
        # before the deadline are not touched: ``fine`` succeeded).
        assert sorted(ends, key=ends.__getitem__) == [0.1, 0.25, 0.4]
        for timeout, ended in ends.items():
            assert ended - began >= timeout


async def test_a_closed_client_refuses_new_requests() -> None:
    client = HTTP1Client()
    await client.close()
    transport = HTTPTransport("s", "http://127.0.0.1:9/graphql", client)
    with pytest.raises(SubgraphError):
        await transport.fetch(SubgraphRequest("{ a }"))


# -- TLS ------------------------------------------------------------------------------


def _certificates(tmp: Any) -> tuple[Any, Any]:
    """A CA, and a certificate it signed for 127.0.0.1 (files: ca.pem, cert.pem,
    key.pem in ``tmp``)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tmp / "ca.pem", (tmp / "cert.pem", tmp / "key.pem")


async def _tls_server(tmp: Any) -> tuple[asyncio.Server, int, Any]:
    import ssl

    ca, (cert, key) = _certificates(tmp)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_answer(DATA))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1], ca


async def test_an_https_subgraph_is_reached_with_its_certificate_verified(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, port, ca = await _tls_server(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the system trust store, for the test
    try:
        async with HTTP1Client() as client:
            transport = HTTPTransport(
                "tls", f"https://127.0.0.1:{port}/graphql", client
            )
            assert await transport.fetch(SubgraphRequest("{ a }")) == {"data": {"a": 1}}
    finally:
        server.close()


async def test_an_https_subgraph_with_an_untrusted_certificate_is_unreachable(
    tmp_path: Any,
) -> None:
    server, port, _ = await _tls_server(tmp_path)
    try:
        async with HTTP1Client() as client:
            transport = HTTPTransport(
                "tls", f"https://127.0.0.1:{port}/graphql", client
            )
            with pytest.raises(SubgraphUnreachableError):
                await transport.fetch(SubgraphRequest("{ a }"))
    finally:
        server.close()


async def test_a_connection_idle_too_long_is_closed_when_another_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.transports import h1

    async with RawServer(_ok) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        await asyncio.gather(
            transport.fetch(SubgraphRequest("{ a }")),
            transport.fetch(SubgraphRequest("{ a }")),
        )
        assert server.connections == 2
        monkeypatch.setattr(h1, "IDLE_SECONDS", -1.0)  # every idle one is too old
        await transport.fetch(SubgraphRequest("{ a }"))
        origin = next(iter(client._origins.values()))
        assert len(origin.idle) == 0  # the other idle one was closed, then this one


async def test_headers_without_end_are_refused_not_buffered() -> None:
    async def endless_headers(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for index in range(10_000):
                writer.write(b"X-Filler-%d: %s\r\n" % (index, b"y" * 100))
                await writer.drain()
        except ConnectionError:
            pass
        return False

    async with RawServer(endless_headers) as server, HTTP1Client() as client:
        transport = HTTPTransport("s", server.url, client)
        with pytest.raises(SubgraphBadResponseError):
            await transport.fetch(SubgraphRequest("{ a }"))
