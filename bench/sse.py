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

With ``--peers`` (``scripts/bench --sse --peers``) it runs instead the same
subscription through our gateway and through Hive Gateway, both in front of one
standalone ticker subgraph over SSE, interleaved in one run: idle RSS per subscription
(1 000 and 9 000: the hard open-file limit of 20 000 here leaves no room for 10 000
subscriptions held with one upstream connection each) and fan-out deliveries per
second, with ratios ours over Hive. See docs/performance.md.

    python -m bench.sse [--idle 1000,10000] [--subscribers 1000] [--events 200]
    python -m bench.sse --peers [--idle 1000,9000] [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bench.common import (
    PY,
    ROOT,
    busy_share,
    contended,
    cpu_times,
    free_port,
    others_on_core,
    pinned,
    post,
    proc_stat,
    process_cpu_seconds,
    process_seconds_on,
    rss_kib,
    wait_for_quiet,
)
from bench.peers import NODE_DIR, install_peers, node_version, package_versions

__all__ = ["main"]

TEXT = "x" * 64
QUERY = "subscription ($t: String!) { messages(topic: $t) { seq text } }"


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


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
        """Read until ``wanted`` ``next`` events came. A ``next`` whose payload has
        ``errors`` is not a delivery: the burst fails (``ErrorFrame``)."""
        seen, buffer = 0, b""
        while seen < wanted:
            chunk = await self.reader.read(1 << 16)
            if not chunk:
                raise EOFError("the stream ended early")
            *frames, buffer = (buffer + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
            for frame in frames:
                if b"event: next" not in frame:
                    continue
                if b'"errors"' in frame:
                    raise ErrorFrame(f"an error event instead of a delivery: {frame!r}")
                seen += 1

    def close(self) -> None:
        self.writer.close()


class ErrorFrame(RuntimeError):
    """A subscriber got an error where an event was due: the burst failed."""


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
    return post(url, query, timeout=60)


async def _publish(target: str, port: int, events: int) -> None:
    if target.startswith("bare"):
        step = int(target == "bare-step")
        url = f"http://127.0.0.1:{port}/publish?count={events}&step={step}"
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=60).read())
    else:
        query = f'mutation {{ burst(topic: "fanout", count: {events}, size: 64) }}'
        await asyncio.to_thread(_post, f"http://127.0.0.1:{port}/graphql", query)


async def idle(
    pid: int,
    port: int,
    n: int,
    distinct: bool,
    check: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> float:
    """KiB of server RSS per idle subscription. ``distinct``: every subscription
    has its own topic, so every gateway subscription its own upstream source (the
    worst case); else they all share one upstream. ``check`` runs while they are
    all open (it raises when they are not really held)."""
    queries = [f"idle-{i}" if distinct else "idle" for i in range(n)]
    warm = await _open_many(port, queries[:50])
    for sub in warm:
        sub.close()
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    subscribers = await _open_many(port, queries)
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    try:
        if check is not None:
            await check()
    finally:
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


# -- beside Hive Gateway -----------------------------------------------------------------
#
# ``--peers``: the same subscription through our gateway and through Hive Gateway, both
# in front of ONE standalone ticker subgraph (``python -m tests.fixtures.ticker``: GraphQL
# over SSE, graphql-sse distinct connections mode). Hive Gateway takes subscriptions
# from clients over SSE and, with its default HTTP transport, opens each one upstream
# over SSE too (``@graphql-tools/executor-http`` sends ``Accept: text/event-stream``);
# our gateway's remote SSE transport does the same. The publisher posts ``burst``
# straight to the ticker, so the publishing path is identical for both.

PEER_TARGETS = ("ours", "hive")
PEER_LABELS = {"ours": "our gateway", "hive": "Hive Gateway"}
# Distinct topics: the last PROBE of them must have their ticker source open while
# held (a subscription whose upstream failed is not an idle subscription).
PROBE = 10


@dataclass(frozen=True, slots=True)
class FanoutSample:
    """One burst through one gateway; CPU figures cover the burst only."""

    deliveries: int
    elapsed_s: float
    gateway_cpu_s: float
    subgraph_cpu_s: float
    cpu0_busy: float  # share of the gateway's core that was busy during the burst
    others_cpu_s: float  # process time on the gateway's core not spent by the gateway
    background: float  # how busy that core was just before, everything idle

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def gateway_cpu_us_per_delivery(self) -> float:
        return 1e6 * self.gateway_cpu_s / self.deliveries if self.deliveries else 0.0

    @property
    def core_share(self) -> float:
        return self.gateway_cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def contended(self) -> bool:
        """Other processes took more than CONTENDED of the gateway's core."""
        return contended(self.others_cpu_s, self.elapsed_s)


@dataclass(frozen=True, slots=True)
class IdleSample:
    """N idle subscriptions held by one fresh gateway process."""

    kib_per_subscription: float
    # Ticker sources open while the N subscriptions were held: for one shared topic,
    # 1 when the gateway shares one upstream among them, N when it opens one each;
    # for distinct topics, how many of the last PROBE topics had their source open.
    upstream: int = -1
    error: str | None = None


def count_ratio(ours: float, peer: float) -> float | None:
    """Ours over the peer's; None when either figure is not positive (an RSS
    that did not grow is noise, and a ratio to it means nothing)."""
    return ours / peer if peer > 0 and ours > 0 else None


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def counts(text: str) -> list[int]:
    """``--idle 1000,9000`` to ``[1000, 9000]``."""
    try:
        values = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        values = []
    if not values or any(n < 1 for n in values):
        raise argparse.ArgumentTypeError(
            f"want positive counts like 1000,9000: {text!r}"
        )
    return values


def fd_ceiling(hard_limit: int) -> int:
    """The most subscriptions a gateway that holds one upstream connection per
    subscription can carry under a hard open-file limit: two sockets each, and a
    margin for everything else the process has open."""
    if hard_limit == resource.RLIM_INFINITY or hard_limit < 0:
        return 1 << 30
    return max((hard_limit - 256) // 2, 0)


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _process(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[int]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )  # fmt: skip
    try:
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_graphql(port: int, log: Path, timeout: float = 60) -> None:
    """Up means answering a query that reaches the ticker, not just listening."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/graphql"
    while True:
        with contextlib.suppress(OSError, ValueError):
            if _post(url, '{ listeners(topic: "up") }').get("data"):
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"port {port} did not answer; its log:\n{log_tail(log)}")
        time.sleep(0.2)


@contextlib.contextmanager
def _peer_gateway(
    target: str, workdir: Path, ticker_url: str, supergraph: Path
) -> Iterator[tuple[int, int, Path]]:
    """One gateway in front of the ticker, pinned to core 0: (pid, port, log)."""
    port = free_port()
    log = workdir / f"{target}-{port}.log"
    if target == "ours":
        config = workdir / "ours.yaml"
        config.write_text(
            "version: 1\nsubgraphs:\n  - name: ticker\n"
            f"    routing_url: {ticker_url}\n"
            "    schema:\n      file: ticker.graphql\n"
            "gateway:\n  max_streams: 100000\n  max_streams_per_client: 100000\n"
        )
        code = f"from bench.sse import serve_gateway; serve_gateway({str(config)!r}, {port})"
        argv, env = [PY, "-c", code], {}
    else:
        bin_js = NODE_DIR / "node_modules" / "@graphql-hive" / "gateway" / "dist"
        argv = [
            "node", str(bin_js / "bin.js"), "supergraph", str(supergraph),
            "--config-path", str(NODE_DIR / "hive.config.mjs"),
            "--host", "127.0.0.1", "--port", str(port), "--fork", "1",
        ]  # fmt: skip
        env = {"NODE_ENV": "production", "BENCH_HIVE_DEDUP": "1"}
    with _process(pinned("0", argv), log, env) as pid:
        _wait_graphql(port, log)
        yield pid, port, log


async def _listeners(ticker_url: str, topic: str) -> int:
    query = f'{{ listeners(topic: "{topic}") }}'
    answer = await asyncio.to_thread(_post, ticker_url, query)
    return int(answer["data"]["listeners"])


async def _peer_idle(
    target: str,
    n: int,
    distinct: bool,
    workdir: Path,
    ticker_url: str,
    supergraph: Path,
) -> IdleSample:
    upstream = -1

    async def check() -> None:
        """Every subscription must really be open upstream, not refused or ended."""
        nonlocal upstream
        if distinct:
            topics = [f"idle-{i}" for i in range(max(n - PROBE, 0), n)]
            held = [await _listeners(ticker_url, t) for t in topics]
            upstream = sum(1 for h in held if h > 0)
            if upstream < len(topics):
                raise RuntimeError(
                    f"only {upstream} of the last {len(topics)} subscriptions have "
                    "their upstream open at the subgraph"
                )
        else:
            upstream = await _listeners(ticker_url, "idle")
            if upstream < 1:
                raise RuntimeError("no upstream open at the subgraph")

    with _peer_gateway(target, workdir, ticker_url, supergraph) as (pid, port, log):
        try:
            kib = await asyncio.wait_for(
                idle(pid, port, n, distinct, check), timeout=300
            )
        except (OSError, RuntimeError, EOFError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}".strip()
            tail = log_tail(log)
            return IdleSample(0.0, upstream, error + (f"\n{tail}" if tail else ""))
        return IdleSample(kib, upstream)


async def _peer_fanout(
    pid: int,
    port: int,
    subscribers: int,
    events: int,
    ticker: tuple[int, str],
) -> FanoutSample:
    """One publisher (a ``burst`` posted to the ticker) to ``subscribers`` clients."""
    ticker_pid, ticker_url = ticker
    topic = f"fanout-{port}"  # one topic per gateway: no cross-talk between them
    subs = await _open_many(port, [topic] * subscribers)
    try:
        await asyncio.sleep(0.5)
        background = await asyncio.to_thread(wait_for_quiet)
        cpu, core = cpu_times(), process_seconds_on("cpu0", proc_stat())
        gateway, subgraph = process_cpu_seconds(pid), process_cpu_seconds(ticker_pid)
        query = f'mutation {{ burst(topic: "{topic}", count: {events}, size: 64) }}'
        started = time.perf_counter()
        publishing = asyncio.create_task(asyncio.to_thread(_post, ticker_url, query))
        await asyncio.gather(*(sub.count_events(events) for sub in subs))
        elapsed = time.perf_counter() - started
        gateway = process_cpu_seconds(pid) - gateway
        core_after = process_seconds_on("cpu0", proc_stat())
        sample = FanoutSample(
            deliveries=subscribers * events,
            elapsed_s=elapsed,
            gateway_cpu_s=gateway,
            others_cpu_s=others_on_core("cpu0", core, core_after, gateway),
            subgraph_cpu_s=process_cpu_seconds(ticker_pid) - subgraph,
            cpu0_busy=busy_share(cpu, cpu_times()).get("cpu0", 0.0),
            background=background,
        )
        await publishing
        return sample
    finally:
        for sub in subs:
            sub.close()
        await asyncio.sleep(0.5)


def _compose(workdir: Path, ticker_url: str) -> Path:
    out = workdir / "supergraph.graphql"
    spec = f"ticker={ticker_url}={workdir / 'ticker.graphql'}"
    subprocess.run(
        ["node", str(NODE_DIR / "compose.mjs"), str(out), spec],
        cwd=NODE_DIR,
        check=True,
    )
    return out


async def _measure_peers(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tests.fixtures.ticker import TICKER_SDL

    (workdir / "ticker.graphql").write_text(TICKER_SDL)
    ticker_port = free_port()
    ticker_url = f"http://127.0.0.1:{ticker_port}/graphql"
    ticker_argv = [
        PY, "-m", "tests.fixtures.ticker", "--port", str(ticker_port),
        "--log-level", "warning",
    ]  # fmt: skip
    results: dict[str, Any] = {"idle": {}, "fanout": {}}
    ticker_log = workdir / "ticker.log"
    with _process(pinned("1", ticker_argv), ticker_log, {}) as ticker_pid:
        _wait_graphql(ticker_port, ticker_log)
        supergraph = _compose(workdir, ticker_url)
        # (a) idle: a fresh gateway per cell, the two gateways one after the other,
        # their order alternating from cell to cell.
        cell = 0
        for n in args.idle:
            for distinct in (True, False):
                kind = "distinct" if distinct else "shared"
                order = PEER_TARGETS if cell % 2 == 0 else PEER_TARGETS[::-1]
                cell += 1
                for target in order:
                    sample = await _peer_idle(
                        target, n, distinct, workdir, ticker_url, supergraph
                    )
                    results["idle"].setdefault(f"{n} {kind}", {})[target] = sample
                    print(
                        f"{PEER_LABELS[target]:13} idle {n:6d} {kind:8}: "
                        + (
                            f"{sample.kib_per_subscription:6.1f} KiB/subscription"
                            if sample.error is None
                            else f"FAILED: {sample.error}"
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
        # (b) fan-out: both gateways up, idle while the other is measured; a warm-up
        # burst each, then interleaved rounds, the order alternating.
        with contextlib.ExitStack() as stack:
            up = {
                t: stack.enter_context(
                    _peer_gateway(t, workdir, ticker_url, supergraph)
                )
                for t in PEER_TARGETS
            }
            ticker = (ticker_pid, ticker_url)
            for pid, port, _ in up.values():
                await _peer_fanout(
                    pid, port, args.subscribers, args.events // 4, ticker
                )
            for round_no in range(args.rounds):
                order = PEER_TARGETS if round_no % 2 == 0 else PEER_TARGETS[::-1]
                for target in order:
                    pid, port, _ = up[target]
                    for attempt in range(args.retries + 1):
                        burst = await _peer_fanout(
                            pid, port, args.subscribers, args.events, ticker
                        )
                        again = burst.contended() and attempt < args.retries
                        print(
                            f"round {round_no + 1}: {PEER_LABELS[target]:13} fan-out "
                            f"{burst.deliveries_per_s:9.0f} deliveries/s  "
                            f"gateway CPU {burst.gateway_cpu_us_per_delivery:6.1f} "
                            f"us/delivery  core share {burst.core_share:4.2f}  "
                            f"others on its core {burst.others_cpu_s:5.2f} s  "
                            f"ticker CPU {burst.subgraph_cpu_s:5.2f} s"
                            + ("  contended: again" if again else ""),
                            file=sys.stderr,
                            flush=True,
                        )
                        if not again:
                            break
                    results["fanout"].setdefault(target, []).append(burst)
    return results


def peer_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Medians and ours-over-Hive ratios from the samples of ``_measure_peers``."""
    idle_rows: list[dict[str, Any]] = []
    for key, by_target in results["idle"].items():
        ours, hive = by_target.get("ours"), by_target.get("hive")
        row: dict[str, Any] = {"case": key}
        for name, sample in (("ours", ours), ("hive", hive)):
            row[name] = None if sample is None else asdict(sample)
        ok = ours is not None and hive is not None and not ours.error and not hive.error
        row["ratio"] = (
            count_ratio(ours.kib_per_subscription, hive.kib_per_subscription)
            if ok
            else None
        )
        idle_rows.append(row)
    fanout: dict[str, Any] = {}
    for target, samples in results["fanout"].items():
        fanout[target] = {
            "deliveries_per_s": statistics.median(s.deliveries_per_s for s in samples),
            "gateway_cpu_us_per_delivery": statistics.median(
                s.gateway_cpu_us_per_delivery for s in samples
            ),
            "subgraph_cpu_s": statistics.median(s.subgraph_cpu_s for s in samples),
            "contended": sum(s.contended() for s in samples),
            "samples": [
                asdict(s) | {"deliveries_per_s": s.deliveries_per_s} for s in samples
            ],
        }
    ratios: dict[str, float | None] = {}
    if "ours" in fanout and "hive" in fanout:
        ours, hive = fanout["ours"], fanout["hive"]
        ratios["fanout_deliveries_per_s"] = count_ratio(
            ours["deliveries_per_s"], hive["deliveries_per_s"]
        )
        ratios["fanout_cpu_per_delivery"] = count_ratio(
            ours["gateway_cpu_us_per_delivery"], hive["gateway_cpu_us_per_delivery"]
        )
    return {"idle": idle_rows, "fanout": fanout, "ratios": ratios}


def peer_markdown(summary: dict[str, Any]) -> str:
    """The two tables of docs/performance.md's subscription section."""
    out = [
        "| idle subscriptions | ours KiB/sub | Hive KiB/sub | ours / Hive "
        "| upstream streams (ours, Hive) |",
        "|---|--:|--:|--:|---|",
    ]
    for row in summary["idle"]:
        cells = []
        for name in ("ours", "hive"):
            sample = row[name]
            if sample is None:
                cells.append("-")
            elif sample["error"]:
                cells.append("failed: " + sample["error"].splitlines()[0])
            else:
                cells.append(f"{sample['kib_per_subscription']:.1f}")
        upstream = [
            str(row[name]["upstream"])
            if row[name] and row[name]["upstream"] >= 0 and "shared" in row["case"]
            else "-"
            for name in ("ours", "hive")
        ]
        out.append(
            f"| {row['case']} | {cells[0]} | {cells[1]} | {fmt_ratio(row['ratio'])} "
            f"| {', '.join(upstream)} |"
        )
    out += [
        "",
        "| fan-out | deliveries/s | gateway CPU us/delivery | ticker CPU s/burst "
        "| note |",
        "|---|--:|--:|--:|---|",
    ]
    for name, figures in summary["fanout"].items():
        note = f"{figures['contended']} contended" if figures["contended"] else ""
        out.append(
            f"| {PEER_LABELS[name]} | {figures['deliveries_per_s']:.0f} "
            f"| {figures['gateway_cpu_us_per_delivery']:.1f} "
            f"| {figures['subgraph_cpu_s']:.2f} | {note} |"
        )
    ratios = summary["ratios"]
    if ratios:
        out += [
            "",
            f"Ours over Hive Gateway: fan-out deliveries/s "
            f"{fmt_ratio(ratios['fanout_deliveries_per_s'])}, gateway CPU per "
            f"delivery {fmt_ratio(ratios['fanout_cpu_per_delivery'])}.",
        ]
    return "\n".join(out) + "\n"


def peers_main(args: argparse.Namespace) -> int:
    """``scripts/bench --sse --peers``: ours beside Hive Gateway, in one run."""
    versions = {"node": node_version()}
    install_peers()
    versions |= package_versions()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ceiling = fd_ceiling(hard)
    too_many = [n for n in args.idle if n > ceiling]
    if too_many:
        print(
            f"note: the hard open-file limit ({hard}) allows at most {ceiling} "
            "subscriptions through a gateway that holds one upstream connection per "
            f"subscription; {too_many} may fail for that reason alone",
            file=sys.stderr,
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(_measure_peers(args, Path(tmp)))
    summary = peer_summary(results)
    tables = peer_markdown(summary)
    print()
    print(tables)
    document = {
        "settings": {
            "idle": args.idle,
            "subscribers": args.subscribers,
            "events": args.events,
            "rounds": args.rounds,
            "open_file_hard_limit": hard,
        },
        "versions": versions,
        "duration_s": round(time.monotonic() - started, 1),
    } | summary
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2))
    out.with_suffix(".md").write_text(tables)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --sse")
    parser.add_argument(
        "--idle",
        type=counts,
        default=None,
        help="idle subscription counts (default 1000,10000; 1000,9000 with --peers)",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON at the end")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="instead: our gateway beside Hive Gateway, both in front of the "
        "standalone ticker subgraph (idle default 1000,9000: see docs/performance.md)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="--peers: re-measures of a contended burst",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench-results" / "sse-peers.json",
        help="--peers: the JSON result (and a .md of its tables beside it)",
    )
    args = parser.parse_args(argv)
    raise_nofile()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the client on core 1, servers on core 0
    if args.peers:
        args.idle = args.idle or [1000, 9000]
        return peers_main(args)
    args.idle = args.idle or [1000, 10000]
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
