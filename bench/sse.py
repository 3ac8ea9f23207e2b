"""``scripts/bench --sse``: SSE subscriptions, the gateway beside a bare aiohttp server.

Two measurements, each run against both servers in the same run:

* idle: N subscriptions (1 000 and 10 000 by default) held open by one server process;
  the server's RSS growth divided by N is the memory per subscription. The gateway's
  subscriptions have distinct topics (one upstream source each: the worst case).
* fan-out: S subscribers (1 000) of one topic; one publisher sends E events at once;
  deliveries per second = S x E / the time until every subscriber has every event.

The bare server is what a hand-written aiohttp SSE endpoint does: one queue per
client, one writer per connection, the same frames, each encoded once; it is measured
publishing the burst at once and one event per loop turn, and the better of the two is
the reference. Servers run pinned to core 0, the
client to core 1. Bars: <= 20 KiB per subscription, >= 0.6x the bare server's
deliveries per second.

    python -m bench.sse [--idle 1000,10000] [--subscribers 1000] [--events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TEXT = "x" * 64
QUERY = "subscription ($t: String!) { messages(topic: $t) { seq text } }"


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *argv]
    return argv


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- the bare server ---------------------------------------------------------------------


class _Bare:
    """An aiohttp SSE endpoint written by hand: a queue per client."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Queue[bytes]] = set()
        self.seq = 0

    async def stream(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)
        self.clients.add(queue)
        try:
            while True:
                frame = await queue.get()
                await response.write(frame)
        finally:
            self.clients.discard(queue)

    async def publish(self, request: web.Request) -> web.Response:
        count = int(request.query["count"])
        step = request.query.get("step") == "1"
        for _ in range(count):
            self.seq += 1
            payload = {"data": {"messages": {"seq": self.seq, "text": TEXT}}}
            frame = (
                b"event: next\nid: "
                + str(self.seq).encode()
                + b"\ndata: "
                + orjson.dumps(payload)
                + b"\n\n"
            )
            for queue in self.clients:
                queue.put_nowait(frame)
            if step:  # let every client write this event before the next one
                await asyncio.sleep(0)
        return web.json_response({"published": count})


def serve_bare(port: int) -> None:
    raise_nofile()
    bare = _Bare()
    app = web.Application()
    app.router.add_post("/graphql", bare.stream)
    app.router.add_get("/publish", bare.publish)
    app.router.add_get("/health", lambda request: _ok())
    web.run_app(
        app, host="127.0.0.1", port=port, print=None, backlog=4096,
        handler_cancellation=True,
    )  # fmt: skip


async def _ok() -> web.Response:
    return web.Response(text="ok")


def serve_gateway(config: str, port: int) -> None:
    raise_nofile()
    from gateway.cli import main as gateway_main

    sys.exit(
        gateway_main(
            ["serve", "--config", config, "--port", str(port), "--log-level", "warning"]
        )
    )


# -- the client --------------------------------------------------------------------------


class _Subscriber:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def count_events(self, wanted: int) -> None:
        seen, tail = 0, b""
        while seen < wanted:
            chunk = await self.reader.read(1 << 16)
            if not chunk:
                raise EOFError("the stream ended early")
            data = tail + chunk
            seen += data.count(b"event: next")
            tail = data[-10:]

    def close(self) -> None:
        self.writer.close()


async def _subscribe(port: int, topic: str) -> _Subscriber:
    body = orjson.dumps({"query": QUERY, "variables": {"t": topic}})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise RuntimeError(f"subscription refused: {status.decode()}")
    return _Subscriber(reader, writer)


async def _open_many(
    port: int, topics: Sequence[str], batch: int = 200
) -> list[_Subscriber]:
    subscribers: list[_Subscriber] = []
    for start in range(0, len(topics), batch):
        chunk = topics[start : start + batch]
        subscribers += await asyncio.gather(*(_subscribe(port, q) for q in chunk))
    return subscribers


def _post(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


async def _publish(target: str, port: int, events: int) -> None:
    if target.startswith("bare"):
        step = int(target == "bare-step")
        url = f"http://127.0.0.1:{port}/publish?count={events}&step={step}"
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=60).read())
    else:
        query = f'mutation {{ burst(topic: "fanout", count: {events}, size: 64) }}'
        await asyncio.to_thread(_post, f"http://127.0.0.1:{port}/graphql", query)


async def idle(pid: int, port: int, n: int, distinct: bool) -> float:
    """KiB of server RSS per idle subscription. ``distinct``: every subscription
    has its own topic, so every gateway subscription its own upstream source (the
    worst case); else they all share one upstream."""
    queries = [f"idle-{i}" if distinct else "idle" for i in range(n)]
    warm = await _open_many(port, queries[:50])
    for sub in warm:
        sub.close()
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    subscribers = await _open_many(port, queries)
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    for sub in subscribers:
        sub.close()
    await asyncio.sleep(1.0)
    return (after - before) / n


async def fanout(port: int, subscribers: int, events: int, target: str) -> float:
    """Deliveries per second: every subscriber gets every event."""
    subs = await _open_many(port, ["fanout"] * subscribers)
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    publishing = asyncio.create_task(_publish(target, port, events))
    await asyncio.gather(*(sub.count_events(events) for sub in subs))
    elapsed = time.perf_counter() - started
    await publishing
    for sub in subs:
        sub.close()
    await asyncio.sleep(0.5)
    return subscribers * events / elapsed


# -- the run -----------------------------------------------------------------------------


def _wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


@contextlib.contextmanager
def _server(target: str, workdir: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    if target == "bare":
        code = f"from bench.sse import serve_bare; serve_bare({port})"
    else:
        config = workdir / "supergraph.yaml"
        config.write_text(
            "version: 1\nsubgraphs:\n  - name: ticker\n"
            "    module: tests.fixtures.ticker:ticker\n"
            "gateway:\n  max_streams: 100000\n  max_streams_per_client: 100000\n"
        )
        code = f"from bench.sse import serve_gateway; serve_gateway({str(config)!r}, {port})"
    log = (workdir / f"{target}.log").open("wb")
    process = subprocess.Popen(
        pinned("0", [PY, "-c", code]),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _wait_up(port)
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"idle_kib_per_subscription": {}, "fanout": {}}
    for target in ("bare", "gateway"):
        # A fresh server for every idle measurement: memory freed by an earlier
        # one would be reused and hide the growth.
        for n in args.idle:
            for distinct in (True, False):
                with _server(target, workdir) as (pid, port):
                    kib = await idle(pid, port, n, distinct)
                kind = "distinct" if distinct else "shared"
                per_target = results["idle_kib_per_subscription"]
                per_target.setdefault(target, {})[f"{n} {kind}"] = kib
                print(
                    f"{target:8} idle {n:6d} {kind:8}: {kib:6.1f} KiB/subscription",
                    flush=True,
                )
        # Two publishing strategies for the bare server (the whole burst at once,
        # or one event at a time); the gateway is compared to the better one.
        variants = ("bare-burst", "bare-step") if target == "bare" else (target,)
        with _server(target, workdir) as (pid, port):
            for variant in variants:
                rates = []
                for _ in range(args.rounds):
                    rate = await fanout(port, args.subscribers, args.events, variant)
                    rates.append(rate)
                    print(
                        f"{variant:10} fan-out: {rate:10.0f} deliveries/s", flush=True
                    )
                results["fanout"][variant] = statistics.median(rates)
    bare = max(results["fanout"]["bare-burst"], results["fanout"]["bare-step"])
    gateway = results["fanout"]["gateway"]
    results["fanout_ratio"] = gateway / bare if bare else 0.0
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --sse")
    parser.add_argument(
        "--idle",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 10000],
        help="idle subscription counts (default 1000,10000)",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON at the end")
    args = parser.parse_args(argv)
    raise_nofile()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the client on core 1, servers on core 0
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(_measure(args, Path(tmp)))
    per_sub = results["idle_kib_per_subscription"]["gateway"]
    worst = max(per_sub.values())
    for key, kib in per_sub.items():
        print(f"gateway idle {key}: {kib:.1f} KiB per subscription")
    ratio = results["fanout_ratio"]
    print(
        f"gateway: {worst:.1f} KiB per idle subscription (bar <= 20), "
        f"fan-out {ratio:.2f}x the bare server (bar >= 0.6)"
    )
    if args.json:
        print(json.dumps(results))
    return 0 if worst <= 20 and ratio >= 0.6 else 1


if __name__ == "__main__":
    sys.exit(main())
