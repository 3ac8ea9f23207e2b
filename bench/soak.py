"""``scripts/soak``: issue 11's reliability run against a real ``gateway serve``.

Loopback only and bounded in time (``--deadline``, default 600 s; every phase stops
when it passes). Starts the gateway on the test fixtures (ticker + shop, in-process),
then runs, one after another:

* ``corpus``: a raw-socket corpus of malformed HTTP requests (bad request lines,
  bad chunk sizes, bad Content-Length, huge headers, bad gzip, unknown encodings);
* ``subscribe``: N subscribe/disconnect cycles (default 10 000) while a publisher
  bursts events, so clients leave in the middle of writes; then every stream slot of
  ``max_streams_per_client`` must be free again (the ticker fixture keeps every
  published message for replay: its history is most of the RSS this phase adds);
* ``aliases``: alias fan-out, refused (500 aliases) and allowed (60 aliases);
* ``documents``: 40 distinct 2 MB bad documents (``--documents``), then 1 000
  repeats of one;
* ``slow``: 50 partial-body and 50 endless-chunked connections.

Prints, per phase, the requests sent, the 5xx answers and the RSS after it, then
tracebacks in the
gateway's log and its fds, threads (``/proc/PID/task``) and RSS before and after.
Figures are counts: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.common import free_port

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
SSE = {"Accept": "text/event-stream"}
SUBSCRIBE = 'subscription { messages(topic: "soak") { seq text } }'
SLOTS = 50

CORPUS: tuple[bytes, ...] = (
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\nhello",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Encoding: gzip\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot gzip!",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Encoding: br\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 7\r\nConnection: close\r\n\r\n{"query',
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # TLS hello
)


@dataclass
class Phase:
    name: str
    requests: int = 0
    server_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    rss_after_kib: int = 0

    def count(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.server_errors += 1


@dataclass(frozen=True)
class Usage:
    fds: int
    threads: int
    rss_kib: int


def usage(pid: int) -> Usage:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(
        int(line.split()[1])
        for line in status.splitlines()
        if line.startswith("VmRSS:")
    )
    return Usage(
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=len(os.listdir(f"/proc/{pid}/task")),
        rss_kib=rss,
    )


def status_of(answer: bytes) -> int:
    if not answer.startswith(b"HTTP/"):
        return 0  # closed without an answer
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


class Soak:
    def __init__(self, port: int, deadline: float) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.deadline = deadline
        self.phases: list[Phase] = []

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    def phase(self, name: str) -> Phase:
        phase = Phase(name)
        self.phases.append(phase)
        return phase

    async def raw(self, data: bytes, *, timeout: float = 60) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            await writer.drain()
            return await asyncio.wait_for(reader.read(), timeout)
        except (ConnectionError, TimeoutError):
            return b""
        finally:
            writer.close()

    async def corpus(self, rounds: int) -> None:
        phase = self.phase("corpus")
        for _ in range(rounds):
            if not self.time_left():
                break
            answers = await asyncio.gather(*(self.raw(data) for data in CORPUS))
            for answer in answers:
                phase.count(status_of(answer))

    async def subscribe(self, session: aiohttp.ClientSession, cycles: int) -> None:
        phase = self.phase("subscribe")
        bursting = True
        published = 0

        async def burst() -> None:
            nonlocal published
            while bursting:
                published += 50
                async with session.post(
                    self.url,
                    json={
                        "query": 'mutation { burst(topic: "soak", count: 50, size: 500) }'
                    },
                ) as response:
                    await response.read()

        async def cycle() -> None:
            try:
                async with session.post(
                    self.url, json={"query": SUBSCRIBE}, headers=SSE
                ) as response:
                    phase.count(response.status)
                    if response.status == 200:
                        await response.content.readany()
                        if response.connection is not None:
                            response.connection.transport.abort()  # type: ignore[union-attr]
            except (aiohttp.ClientError, ConnectionError):
                phase.count(0)

        publisher = asyncio.ensure_future(burst())
        try:
            done = 0
            while done < cycles and self.time_left():
                batch = min(SLOTS, cycles - done)
                await asyncio.gather(*(cycle() for _ in range(batch)))
                done += batch
        finally:
            bursting = False
            await publisher
        # Every slot must come back: a leaked registry entry would hold one.
        free = 0
        for _ in range(100):
            opened = [
                await session.post(self.url, json={"query": SUBSCRIBE}, headers=SSE)
                for _ in range(SLOTS)
            ]
            free = sum(r.status == 200 for r in opened)
            for response in opened:
                response.close()
            if free == SLOTS:
                break
            await asyncio.sleep(0.1)
        print(f"subscribe: {free}/{SLOTS} stream slots free after the cycles")
        print(
            f"subscribe: {published} messages of 500 bytes published (kept for replay)"
        )

    async def aliases(self, session: aiohttp.ClientSession, rounds: int) -> None:
        phase = self.phase("aliases")
        refused = (
            "{ " + " ".join(f"a{i}: topProducts {{ name }}" for i in range(500)) + " }"
        )
        allowed = (
            "{ "
            + " ".join(f"a{i}: topProducts {{ name price }}" for i in range(60))
            + " }"
        )
        for _ in range(rounds):
            if not self.time_left():
                break
            for query in (refused, allowed):
                async with session.post(self.url, json={"query": query}) as response:
                    await response.read()
                    phase.count(response.status)

    async def documents(self, session: aiohttp.ClientSession, count: int) -> None:
        phase = self.phase("documents")
        for i in range(count):
            if not self.time_left():
                break
            if i % 8:
                flood = f"{{ a{i}: ) " + "__typename " * 200_000 + "}"
            else:
                flood = f"{{ a{i}: " + "__typename " * 200_000 + "}"
            async with session.post(self.url, json={"query": flood}) as response:
                await response.read()
                phase.count(response.status)
        for _ in range(1000):
            if not self.time_left():
                break
            async with session.post(
                self.url, json={"query": "{ hello(name: ) }"}
            ) as response:
                await response.read()
                phase.count(response.status)

    async def slow(self) -> None:
        phase = self.phase("slow")

        async def partial() -> bytes:
            return await self.raw(
                b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            )

        async def chunked() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )

            async def trickle() -> None:
                while True:
                    writer.write(b"1\r\n \r\n")
                    await writer.drain()
                    await asyncio.sleep(0.1)

            feeding = asyncio.ensure_future(trickle())
            try:
                return await asyncio.wait_for(reader.read(), 120)
            except (ConnectionError, TimeoutError):
                return b""
            finally:
                feeding.cancel()
                writer.close()

        answers = await asyncio.gather(
            *(partial() for _ in range(50)), *(chunked() for _ in range(50))
        )
        for answer in answers:
            phase.count(status_of(answer))


def write_config(directory: Path) -> Path:
    path = directory / "supergraph.yaml"
    path.write_text(
        "\n".join(
            [
                "version: 1",
                "subgraphs:",
                "  - name: ticker",
                "    module: tests.fixtures.ticker:ticker",
                "  - name: products",
                "    module: tests.fixtures.shop:products",
                "gateway:",
                "  heartbeat_interval: 3600",
                f"  max_streams_per_client: {SLOTS}",
                "  limits:",
                "    body_read_timeout: 5s",
                "    keepalive_timeout: 5s",
                "",
            ]
        )
    )
    return path


async def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.deadline
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as tmp:
        directory = Path(tmp)
        port = free_port()
        log = directory / "gateway.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "XDG_STATE_HOME": str(directory / "state"),
        }
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--config",
                str(write_config(directory)),
                "--port",
                str(port),
                cwd=str(ROOT),
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        try:
            return await soak(process, port, log, deadline, args)
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()


async def soak(
    process: asyncio.subprocess.Process,
    port: int,
    log: Path,
    deadline: float,
    args: argparse.Namespace,
) -> int:
    soak = Soak(port, deadline)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:
        await wait_ready(session, f"http://127.0.0.1:{port}/health/ready", process)
        async with session.post(
            soak.url, json={"query": "{ topProducts { name } }"}
        ) as r:
            await r.read()  # warm up
        before = usage(process.pid)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("corpus", lambda: soak.corpus(args.corpus_rounds)),
            ("subscribe", lambda: soak.subscribe(session, args.cycles)),
            ("aliases", lambda: soak.aliases(session, args.alias_rounds)),
            ("documents", lambda: soak.documents(session, args.documents)),
            ("slow", soak.slow),
        ]
        for name, step in steps:
            if name in args.skip or not soak.time_left():
                continue
            print(f"{name} ...", flush=True)
            await step()
            soak.phases[-1].rss_after_kib = usage(process.pid).rss_kib
        await asyncio.sleep(args.settle)  # lingering and keep-alive timers end
        after = usage(process.pid)
        async with session.get(f"http://127.0.0.1:{port}/health") as response:
            health = response.status
    tracebacks = count_tracebacks(log)
    print()
    print(f"{'phase':<10} {'requests':>9} {'5xx':>5} {'RSS MiB':>8}  statuses")
    for phase in soak.phases:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(phase.statuses.items()))
        rss = phase.rss_after_kib / 1024
        print(
            f"{phase.name:<10} {phase.requests:>9} {phase.server_errors:>5} "
            f"{rss:>8.1f}  {statuses}"
        )
    total = sum(p.requests for p in soak.phases)
    errors = sum(p.server_errors for p in soak.phases)
    print(f"{'total':<10} {total:>9} {errors:>5}")
    print(f"tracebacks in the gateway log: {tracebacks}")
    print(f"{'':<8} {'fds':>6} {'threads':>8} {'RSS MiB':>8}")
    for label, u in (("before", before), ("after", after)):
        print(f"{label:<8} {u.fds:>6} {u.threads:>8} {u.rss_kib / 1024:>8.1f}")
    print(f"/health after: {health}")
    return 0 if errors == 0 and tracebacks == 0 and health == 200 else 1


def count_tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback")


async def wait_ready(
    session: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process
) -> None:
    for _ in range(600):
        if process.returncode is not None:
            raise SystemExit(f"the gateway exited with {process.returncode}")
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the gateway did not become ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--deadline", type=float, default=600, help="seconds (600)")
    parser.add_argument(
        "--cycles", type=int, default=10_000, help="subscribe/disconnect cycles"
    )
    parser.add_argument(
        "--corpus-rounds", type=int, default=20, help="rounds of the raw corpus"
    )
    parser.add_argument(
        "--alias-rounds", type=int, default=50, help="alias fan-out rounds"
    )
    parser.add_argument(
        "--settle", type=float, default=7.0, help="seconds before 'after'"
    )
    parser.add_argument(
        "--documents", type=int, default=40, help="distinct 2 MB bad documents"
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="a phase to skip (repeatable)"
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
