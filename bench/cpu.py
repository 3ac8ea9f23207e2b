"""``scripts/bench --guild``: gateway CPU per request on The Guild's scenario.

Starts the four subgraphs of ``bench.guild`` on core 1 and one gateway per variant on
core 0: the working tree, and each ``--ref`` (a git revision extracted to a temporary
directory), so a change is measured before and after in one invocation. Every kind of
dedup is off (``dedup_queries``, and ``dedup_requests`` where the variant knows it).
For each query (light, join, heavy) and variant, in interleaved rounds, a fixed
number of requests is sent at a fixed concurrency; the gateway process's user+sys
CPU (/proc) over them, divided by the count, is the figure, with the share of it the
cyclic garbage collector took (``bench.gcprobe``). Every answer is checked against
``bench.guild.expected_answer`` before and during timing: one wrong answer fails the
run. On a shared machine the figures are indicative only.

``--instructions``: the same scenario, but each gateway runs under valgrind's callgrind
with instrumentation off, switched on (``callgrind_control``) only around the measured
requests; the figure is CPU instructions (callgrind's ``Ir``) per request, the
gateway's own user-space work, which does not change with the machine's load or the
neighbours of a shared host (kernel time, cache misses and waiting are not in it).
It reproduces to within a fraction of a per cent, so a change of a few per cent shows.

``--floor``: the floor (``bench.floor``) is measured beside the gateways, as one more
variant: the same subgraph requests sent, their answers decoded and one answer encoded,
with no GraphQL work. Its answers are checked as the gateway's are (against what the
subgraphs said), and each gateway's figure is also given as a multiple of the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import (
    PY,
    ROOT,
    RunFailed,
    free_port,
    pinned,
    process_cpu_seconds,
    start,
    stop,
    wait_until_up,
)
from bench.floor import record_into
from bench.guild import HEAVY, JOIN, LIGHT, NAMES, SDL, expected_answer

__all__ = ["main"]

QUERIES = {"light": LIGHT, "join": JOIN, "heavy": HEAVY}


@dataclass
class Variant:
    name: str
    source: Path
    port: int = 0
    pid: int = 0
    probe: Path = Path()
    floor: dict[str, Any] | None = None
    """The floor's recorded scripts (``bench.floor``): this variant is the floor."""

    def expected(self, query: str) -> Any:
        """The answer every request of ``query`` must get."""
        if self.floor is not None:
            return orjson.loads(self.floor[query]["answer"])
        return expected_answer(query)


@dataclass
class Figures:
    cpu_ms: list[float] = field(default_factory=list)
    gc_share: list[float] = field(default_factory=list)


VALGRIND_START_SECONDS = 300.0
"""How long a gateway under valgrind may take to start (about 20 times slower)."""


def callgrind_argv(out: Path) -> list[str]:
    """The prefix that runs a command under callgrind, counting nothing until
    ``callgrind_control -i on``."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
    ]


def callgrind_control(pid: int, *flags: str) -> None:
    subprocess.run(
        ["callgrind_control", *flags, str(pid)], check=True, capture_output=True
    )


def dumped_instructions(out: Path, before: set[Path]) -> int:
    """The instruction count of the dump ``callgrind_control -d`` just wrote (a file
    beside ``out`` that was not in ``before``)."""
    new = sorted(set(out.parent.glob(f"{out.name}*")) - before)
    if not new:
        raise RunFailed(f"callgrind wrote no dump beside {out}")
    total = 0
    for dump in new:
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def warm(variant: Variant, query: str, requests: int, concurrency: int) -> None:
    """Requests before counting (caches filled), every answer checked."""
    url = f"http://127.0.0.1:{variant.port}/graphql"
    body = orjson.dumps({"query": query})
    bad = asyncio.run(load(url, body, variant.expected(query), requests, concurrency))
    if bad:
        raise RunFailed(f"{variant.name}: {bad} of {requests} answers were wrong")


def measure_instructions(
    variant: Variant, query: str, requests: int, concurrency: int, out: Path
) -> float:
    """CPU instructions per request over ``requests`` checked requests."""
    url = f"http://127.0.0.1:{variant.port}/graphql"
    body = orjson.dumps({"query": query})
    expected = variant.expected(query)
    before = set(out.parent.glob(f"{out.name}*"))
    callgrind_control(variant.pid, "--zero")
    callgrind_control(variant.pid, "--instr=on")
    bad = asyncio.run(load(url, body, expected, requests, concurrency))
    callgrind_control(variant.pid, "--instr=off")
    callgrind_control(variant.pid, "--dump")
    if bad:
        raise RunFailed(f"{variant.name}: {bad} of {requests} answers were wrong")
    return dumped_instructions(out, before) / requests


def extract(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` in ``into``, with today's GC probe."""
    archive = into.with_suffix(".tar")
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), ref],
        cwd=ROOT,
        check=True,
    )
    into.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    shutil.copy(ROOT / "bench" / "gcprobe.py", into / "bench" / "gcprobe.py")
    return into


def write_config(workdir: Path, variant: Variant, urls: dict[str, str]) -> Path:
    lines = ["version: 1", "subgraphs:"]
    for name in NAMES:
        (workdir / f"{name}.graphql").write_text(SDL[name])
        lines += [
            f"  - name: {name}",
            f"    routing_url: {urls[name]}",
            "    schema:",
            f"      file: {workdir / f'{name}.graphql'}",
        ]
    lines += ["gateway:", "  log_level: warning", "  dedup_queries: false"]
    grammar = variant.source / "gateway" / "config" / "grammar.py"
    if "dedup_requests" in grammar.read_text():
        lines.append("  dedup_requests: false")
    if (variant.source / "gateway" / "limits.py").is_file():
        # The heavy query's estimated complexity (about 108 000) is over the
        # default operation limit (50 000): the benchmark runs it on purpose.
        lines += ["  limits:", "    complexity: 1000000"]
    config = workdir / f"gateway-{variant.name}.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


async def load(
    url: str, body: bytes, expected: Any, requests: int, concurrency: int
) -> int:
    """Send ``requests`` POSTs, ``concurrency`` at a time; the count of bad answers."""
    bad = 0
    remaining = requests
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal bad, remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=body, headers=headers) as response:
                    raw = await response.read()
                if response.status != 200 or orjson.loads(raw) != expected:
                    bad += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return bad


def gc_seconds(probe: Path) -> float:
    try:
        return float(json.loads(probe.read_text())["gc_seconds"])
    except (OSError, ValueError, KeyError):
        return 0.0


def measure(
    variant: Variant, query: str, requests: int, concurrency: int
) -> tuple[float, float]:
    """CPU ms per request and GC share of it, over ``requests`` checked requests."""
    url = f"http://127.0.0.1:{variant.port}/graphql"
    body = orjson.dumps({"query": query})
    expected = variant.expected(query)
    time.sleep(0.6)  # the probe rewrites its file every 0.5 s
    cpu0, gc0 = process_cpu_seconds(variant.pid), gc_seconds(variant.probe)
    bad = asyncio.run(load(url, body, expected, requests, concurrency))
    cpu1 = process_cpu_seconds(variant.pid)
    time.sleep(0.6)
    gc1 = gc_seconds(variant.probe)
    if bad:
        raise RunFailed(f"{variant.name}: {bad} of {requests} answers were wrong")
    cpu = cpu1 - cpu0
    return cpu / requests * 1000, (gc1 - gc0) / cpu if cpu > 0 else 0.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench --guild", description=__doc__)
    parser.add_argument(
        "--ref",
        action="append",
        default=[],
        help="a git revision to measure beside the working tree (repeatable)",
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="per measurement (default 2000)"
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--queries", default="light,join,heavy", help="comma-separated subset"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count CPU instructions per request under valgrind (callgrind) "
        "instead of timing CPU; --requests defaults to 200",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="measure the floor beside the gateway (bench/floor.py): the same "
        "subgraph requests sent and their answers decoded, one answer encoded, "
        "no GraphQL work",
    )
    parser.add_argument("--out", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    counting = args.instructions
    if counting:
        for tool in ("valgrind", "callgrind_control"):
            if shutil.which(tool) is None:
                raise SystemExit(
                    f"{tool} is not installed (scripts/bench installs valgrind "
                    "with apt-get for --instructions)"
                )
    requests = args.requests or (200 if counting else 2000)
    out_file = args.out or ROOT / "bench-results" / (
        "instructions.json" if counting else "cpu.json"
    )
    queries = [q for q in args.queries.split(",") if q]
    workdir = Path(tempfile.mkdtemp(prefix="gateway-guild-"))
    variants = [
        Variant(f"ref:{ref}", extract(ref, workdir / f"ref{i}"))
        for i, ref in enumerate(args.ref)
    ]
    variants.append(Variant("worktree", ROOT))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports = {name: free_port() for name in NAMES}
    urls = {name: f"http://127.0.0.1:{port}/graphql" for name, port in ports.items()}
    dumps: dict[str, Path] = {}
    try:
        for name in NAMES:
            argv = [PY, "-m", "bench.guild", name, "--port", str(ports[name])]
            procs[name] = start(pinned("1", argv), workdir / f"{name}.log")
        for name in NAMES:
            wait_until_up(urls[name])
        if args.floor:
            variants.append(Variant("floor", ROOT))
            variants[-1].floor = record_into(
                workdir / "floor.json", SDL, urls, [QUERIES[q] for q in queries]
            )
        for number, variant in enumerate(variants):
            variant.port = free_port()
            variant.probe = workdir / f"gc-{len(procs)}.json"
            if variant.floor is not None:
                serve = ["-m", "bench.floor", "--script", str(workdir / "floor.json")]
            else:
                config = write_config(workdir, variant, urls)
                serve = ["-m", "gateway", "serve", "--config", str(config)]
            serve += ["--port", str(variant.port)]
            env = {"PYTHONPATH": f"{variant.source}{os.pathsep}{ROOT}"}
            if counting:
                dumps[variant.name] = workdir / f"callgrind-{number}.out"
                argv = [*callgrind_argv(dumps[variant.name]), PY, *serve]
                env["PYTHONHASHSEED"] = "0"  # the same dict layouts every run
            else:
                argv = [PY, "-m", "bench.gcprobe", str(variant.probe), *serve]
            proc = subprocess.Popen(
                pinned("0", argv),
                cwd=variant.source,
                stdout=(workdir / f"{variant.name.replace(':', '-')}.log").open("wb"),
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
            procs[variant.name] = proc
            variant.pid = proc.pid
        for variant in variants:
            wait_until_up(
                f"http://127.0.0.1:{variant.port}/graphql",
                timeout=VALGRIND_START_SECONDS if counting else 60.0,
            )
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        results = {(v.name, q): Figures() for v in variants for q in queries}
        for query in queries:  # warm-up, and the check before timing
            for variant in variants:
                if counting:
                    warm(variant, QUERIES[query], 100, args.concurrency)
                else:
                    measure(variant, QUERIES[query], 100, args.concurrency)
        unit = "Ir/request" if counting else "ms CPU/request"
        for round_no in range(args.rounds):
            order = variants if round_no % 2 == 0 else variants[::-1]
            for query in queries:
                for variant in order:
                    figures = results[(variant.name, query)]
                    if counting:
                        value = measure_instructions(
                            variant,
                            QUERIES[query],
                            requests,
                            args.concurrency,
                            dumps[variant.name],
                        )
                        figures.cpu_ms.append(value)
                        shown = f"{value:14,.0f} {unit}"
                    else:
                        value, share = measure(
                            variant, QUERIES[query], requests, args.concurrency
                        )
                        figures.cpu_ms.append(value)
                        figures.gc_share.append(share)
                        shown = f"{value:7.3f} {unit}  GC {share:5.1%}"
                    print(
                        f"round {round_no + 1}: {variant.name:24} {query:6} {shown}",
                        flush=True,
                    )
        if counting:
            print(
                "\ngateway CPU instructions per request (callgrind Ir, user space), "
                f"every dedup off, {requests} requests x {args.rounds} rounds at "
                f"concurrency {args.concurrency}; median of rounds"
            )
            print(f"{'variant':26}{'query':8}{'Ir/request':>14}")
        else:
            print(
                "\nshared machine, indicative: gateway CPU per request (user+sys, "
                f"/proc), every dedup off, {requests} requests x {args.rounds} "
                f"rounds at concurrency {args.concurrency}; median of rounds"
            )
            print(f"{'variant':26}{'query':8}{'CPU ms/req':>12}{'GC share':>10}")
        table = []
        for (name, query), figures in results.items():
            value = statistics.median(figures.cpu_ms)
            if counting:
                table.append(
                    {
                        "variant": name,
                        "query": query,
                        "instructions_per_request": round(value),
                        "rounds": [round(v) for v in figures.cpu_ms],
                    }
                )
                print(f"{name:26}{query:8}{value:14,.0f}")
                continue
            share = statistics.median(figures.gc_share)
            table.append(
                {
                    "variant": name,
                    "query": query,
                    "cpu_ms_per_request": value,
                    "gc_share": share,
                    "rounds": figures.cpu_ms,
                }
            )
            print(f"{name:26}{query:8}{value:12.3f}{share:10.1%}")
        floor = {row["query"]: row for row in table if row["variant"] == "floor"}
        if floor:
            key = "instructions_per_request" if counting else "cpu_ms_per_request"
            print(
                "\nover the floor (bench/floor.py: the same I/O and JSON, no GraphQL)"
            )
            for row in table:
                base = floor[row["query"]][key]
                if row["variant"] != "floor" and base > 0:
                    row["times_floor"] = round(row[key] / base, 3)
                    print(
                        f"{row['variant']:26}{row['query']:8}"
                        f"{row['times_floor']:8.2f}x the floor, "
                        + (
                            f"{row[key] - base:,.0f} Ir/request above it"
                            if counting
                            else f"{row[key] - base:.3f} ms/request above it"
                        )
                    )
        out_file.parent.mkdir(parents=True, exist_ok=True)
        settings = vars(args) | {"out": str(out_file), "requests": requests}
        out_file.write_text(
            json.dumps({"settings": settings, "results": table}, indent=2)
        )
        print(f"wrote {out_file}")
        return 0
    finally:
        stop(procs.values())
