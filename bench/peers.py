"""``scripts/bench --peers``: The Guild's scenario through our gateway and its peers.

The four subgraphs of The Guild's gateway benchmark (``bench.guild``: accounts,
inventory, products, reviews) serve every gateway. Each is a Node front
(``bench/peers/guild-subgraph.mjs``) that answers from memory per request body, over
its Python origin (``bench.guild``'s subgraph, run as ``python -m bench.peers origin
NAME``: the one implementation of the schema, the data and the resolvers): the subgraphs keep far from being the bottleneck and
their answers cannot drift. The peers (Grafbase's CLI, Hive Gateway with and without
the Rust planner of ``@graphql-hive/router-runtime``, Apollo Gateway) are installed
with npm from ``bench/peers/package.json`` into ``.cache/bench-peers`` and load one
supergraph composed by ``@apollo/composition`` (Grafbase composes the same SDL
itself); our gateway reads the same SDL from a ``supergraph.yaml``.

Every gateway is pinned to core 0; wrk (50 connections) and the subgraphs share
core 1. Before anything is timed, every gateway must answer each query (light,
join, heavy) as ``bench.guild.expected_answer`` does, field order included; while
timing, wrk checks that every answer is byte for byte the one checked before. A
target or query whose answers go wrong is marked FAILED (the command then exits 1).
Two references run beside the gateways: a bare aiohttp proxy (light only) and the
floor (``bench.floor``: the subgraph requests our engine sends for each query,
recorded before the run, replayed with their I/O and JSON and no GraphQL; its answers
are checked against what the subgraphs said).
Then: warm-up, interleaved rounds, medians; CPU per request from /proc.

Writes ``bench-results/peers.json``, ``peers.md`` and ``peers.png``, and the
generated part of docs/performance.md. ``scripts/bench --sse --peers``
(``bench/sse.py``) installs the peers with ``install_peers`` from here.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson

from bench import floor
from bench.common import (
    LATENCY_CONTENDED,
    PY,
    ROOT,
    RunFailed,
    busy_share,
    contended,
    cpu_times,
    free_port,
    others_on_core,
    parse_wrk,
    peak_rss_kib,
    pinned,
    proc_stat,
    process_cpu_seconds,
    process_seconds_on,
    require_clean,
    start,
    stop,
    total_requests,
    wait_for_quiet,
    wrk_argv,
)
from bench.guild import HEAVY, JOIN, LIGHT, NAMES, SDL, expected_answer
from bench.peers_report import (
    QUERY_NAMES,
    Measurement,
    Result,
    Results,
    Target,
    console_table,
    markdown_report,
    splice,
    write_chart,
)

__all__ = [
    "NODE_DIR",
    "TARGETS",
    "check_answer",
    "install_peers",
    "main",
    "node_version",
    "origin_main",
    "package_versions",
]

PEERS_SRC = ROOT / "bench" / "peers"
NODE_DIR = ROOT / ".cache" / "bench-peers"
QUERIES = {"light": LIGHT, "join": JOIN, "heavy": HEAVY}
GRAFBASE = "@grafbase/cli-x86_64-unknown-linux-musl"
DOC = ROOT / "docs" / "performance.md"
DOC_CHART = "performance-peers.png"
"""The chart beside the page (committed with it; ``bench-results/`` is not)."""
WRK_TIMEOUT_S = 30
"""A slow answer is slow, not wrong: wrk's default 2 s per request would count the
heavy query through the slowest peers on a shared core as socket errors."""

_HIVE_PUBLISHED = (
    "`hive-gateway supergraph --jit`, no config file (outbound in-flight dedup of "
    "subgraph requests on, its default; inbound off): the config of the published "
    "results of graphql-gateways-benchmark"
)

TARGETS = (
    # Like for like first: no deduplication of any kind.
    Target(
        "ours-nodedup", "ours, dedup off", "ours", "like",
        "`gateway.dedup_queries: false`, `gateway.dedup_requests: false`",
    ),
    Target(
        "hive-nodedup", "Hive Gateway, every dedup off", "hive", "like",
        "`--jit`, `transportEntries['*.http'].options.deduplicateInflightRequests: "
        "false`, inbound dedup off",
        jit=True,
    ),
    Target(
        "apollo", "Apollo Gateway", "apollo", "like",
        "`@apollo/gateway` behind `@apollo/server`'s standalone server "
        "(no in-flight dedup)",
    ),
    Target(
        "grafbase-nodedup", "Grafbase, dedup off", "grafbase", "like",
        "`grafbase dev` with `[traffic_shaping] inflight_deduplication = false`",
    ),
    Target(
        "proxy", "bare aiohttp proxy (light only)", "proxy", "like",
        "`python -m bench.proxy`: forwards the body to products and its answer back",
        queries=("light",),
    ),
    Target(
        "floor", "floor: subgraph I/O and JSON only", "floor", "like",
        "`python -m bench.floor`: the gateway's own subgraph requests for the query "
        "(recorded before the run) sent in the same order, every answer decoded and "
        "`{\"data\": [those answers' data]}` encoded, on the gateway's HTTP client "
        "and front parser; what any Python server on this stack spends before any "
        "GraphQL work (its answer, checked like the others', is not the query's)",
    ),
    # Then the deduplicating configurations.
    Target(
        "grafbase", "Grafbase, default config", "grafbase", "dedup",
        "`grafbase dev -c grafbase.toml` (the CLI's local gateway; subgraph URLs and "
        "SDL files in grafbase.toml, composed by the CLI), defaults: in-flight "
        "dedup of subgraph requests on",
        dedup=True,
    ),
    Target(
        "hive-default", "Hive Gateway, default config", "hive", "dedup",
        _HIVE_PUBLISHED, dedup=True, jit=True,
    ),
    Target(
        "hive-router-default", "Hive Gateway + Rust planner, default config",
        "hive", "dedup",
        "`unifiedGraphHandler` of `@graphql-hive/router-runtime`, otherwise defaults "
        "(outbound dedup on, inbound off): the published results' config",
        dedup=True, router=True,
    ),
    Target(
        "hive-bench", "Hive Gateway, benchmark config", "hive", "dedup",
        "`--jit`, `inboundInflightRequestDeduplication: true` (outbound dedup on): "
        "graphql-gateways-benchmark's current config",
        dedup=True, inbound=True, jit=True,
    ),
    Target(
        "hive-router-bench", "Hive Gateway + Rust planner, benchmark config",
        "hive", "dedup",
        "`unifiedGraphHandler` of `@graphql-hive/router-runtime`, "
        "`inboundInflightRequestDeduplication: true`: graphql-gateways-benchmark's "
        "current config",
        dedup=True, inbound=True, router=True,
    ),
    Target(
        "ours", "ours, default (all dedup on)", "ours", "dedup",
        "defaults: `gateway.dedup_queries` (subgraph requests) and "
        "`gateway.dedup_requests` (inbound) on",
        dedup=True,
    ),
)  # fmt: skip


# ------------------------------------------------------------------- subgraphs


def subgraph_count(port: int) -> tuple[int, int]:
    """(requests, memo misses) a Node subgraph front has served so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
        counts = json.loads(r.read())
    return int(counts["requests"]), int(counts["misses"])


def start_subgraphs(
    workdir: Path, procs: dict[str, subprocess.Popen[bytes]]
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Each Guild subgraph on core 1: its Python origin and its Node front.

    Returns the fronts' ports and, per subgraph, the pids whose CPU is its load.
    """
    ports = {name: free_port() for name in NAMES}
    pids: dict[str, list[int]] = {}
    for name in NAMES:
        origin = free_port()
        argv = [
            PY,
            "-X",
            "faulthandler",
            "-m",
            # Not ``-m bench.guild``: `scripts/bench --guild` runs those, and a
            # session cleaning up after it by name must not stop this run's.
            "bench.peers",
            "origin",
            name,
            "--port",
            str(origin),
        ]
        procs[f"origin-{name}"] = start(
            pinned("1", argv), workdir / f"origin-{name}.log"
        )
        front = [
            "node",
            str(NODE_DIR / "guild-subgraph.mjs"),
            name,
            str(ports[name]),
            f"http://127.0.0.1:{origin}/graphql",
        ]
        procs[f"subgraph-{name}"] = start(
            pinned("1", front), workdir / f"subgraph-{name}.log"
        )
        pids[name] = [procs[f"origin-{name}"].pid, procs[f"subgraph-{name}"].pid]
        (workdir / f"{name}.graphql").write_text(SDL[name])
    for name in NAMES:
        wait_up(
            f"http://127.0.0.1:{ports[name]}/graphql",
            procs[f"subgraph-{name}"],
            workdir / f"subgraph-{name}.log",
        )
    return ports, pids


def wait_up(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0
) -> None:
    """Wait until ``url`` answers a GraphQL POST; SystemExit naming the log if the
    process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"exited with code {proc.returncode}; see {log}")
        try:
            post_bytes(url, floor.PROBE, timeout=5)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{url} did not come up in {timeout:.0f}s; see {log}"
                ) from None
            time.sleep(0.2)


def require_subgraphs(procs: dict[str, subprocess.Popen[bytes]], workdir: Path) -> None:
    """SystemExit when a subgraph process (origin or front) is no longer running:
    every answer would then be a fetch error, whoever asked."""
    for name, proc in procs.items():
        if name.startswith(("origin-", "subgraph-")) and proc.poll() is not None:
            raise SystemExit(
                f"the subgraph process {name} (pid {proc.pid}) exited with code "
                f"{proc.returncode} (negative: killed by that signal, not by this "
                f"run); see {workdir / (name + '.log')}"
            )


# ---------------------------------------------------------------- correctness


def post_bytes(url: str, query: str, timeout: float = 30.0) -> bytes:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
    return body


def check_answer(got: bytes, expected: dict[str, Any], what: str) -> None:
    """``got`` must be the expected answer: the same JSON, field order included, and
    no ``errors``. Raises ``RunFailed`` naming ``what`` and the first difference."""
    try:
        decoded = orjson.loads(got)
    except orjson.JSONDecodeError:
        raise RunFailed(f"{what}: the answer is not JSON: {got[:200]!r}") from None
    if orjson.dumps(decoded) == orjson.dumps(expected):
        return
    a = orjson.dumps(decoded).decode()
    b = orjson.dumps(expected).decode()
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
    at = min(at, len(a), len(b))
    raise RunFailed(
        f"{what}: wrong answer ({len(a)} bytes, expected {len(b)}); first difference "
        f"at byte {at}: got {a[max(at - 60, 0) : at + 60]!r}, "
        f"expected {b[max(at - 60, 0) : at + 60]!r}"
    )


def checked_answer(url: str, query: str, expected: dict[str, Any], what: str) -> bytes:
    """The target's answer bytes, after checking them twice (both must be correct
    and identical: timing then holds every answer to these bytes)."""
    first = post_bytes(url, query)
    check_answer(first, expected, what)
    second = post_bytes(url, query)
    if second != first:
        check_answer(second, expected, what)
        raise RunFailed(f"{what}: two correct answers differ in their bytes")
    return first


# ----------------------------------------------------------------- peer gateways


FLOOR_SCRIPT = "floor.json"


def record_floor(
    workdir: Path, subgraph_urls: dict[str, str], queries: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Record the gateway's subgraph requests for ``queries`` (``bench.floor``) into
    the floor's script; by query name, the floor's answer."""
    names = list(queries)
    scripts = floor.record_into(
        workdir / FLOOR_SCRIPT, SDL, subgraph_urls, [QUERIES[q] for q in names]
    )
    return {q: orjson.loads(scripts[QUERIES[q]]["answer"]) for q in names}


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed: the peer gateways need Node >= 20")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        raise SystemExit(f"the peer gateways need Node >= 20 (found {version})")
    return version


def install_peers() -> None:
    """npm-install the pinned peers into .cache/bench-peers (once per lockfile)."""
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed: the peer gateways need it")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    lock = PEERS_SRC / "package-lock.json"
    digest = hashlib.sha256(
        (PEERS_SRC / "package.json").read_bytes() + lock.read_bytes()
    ).hexdigest()[:16]
    stamp = NODE_DIR / "node_modules" / f".installed-{digest}"
    if not stamp.exists():
        print("Installing the peer gateways with npm ...", file=sys.stderr)
        shutil.copy(PEERS_SRC / "package.json", NODE_DIR / "package.json")
        shutil.copy(lock, NODE_DIR / "package-lock.json")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            stdout=sys.stderr,
        )
        for old in (NODE_DIR / "node_modules").glob(".installed-*"):
            old.unlink()
        stamp.touch()
    # The scripts import the installed packages, so they run from beside node_modules.
    for script in PEERS_SRC.glob("*.mjs"):
        shutil.copy(script, NODE_DIR / script.name)


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    wanted = json.loads((PEERS_SRC / "package.json").read_text())["dependencies"]
    for name in wanted:
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        versions[name] = json.loads(manifest.read_text())["version"]
    return versions


def grafbase_version() -> str:
    out = subprocess.run(
        [str(grafbase_bin()), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out.rsplit(" ", 1)[-1]


def grafbase_bin() -> Path:
    return NODE_DIR / "node_modules" / GRAFBASE / "grafbase"


def compose_supergraph(workdir: Path, subgraph_urls: dict[str, str]) -> Path:
    out = workdir / "supergraph.graphql"
    specs = [
        f"{name}={subgraph_urls[name]}={workdir / f'{name}.graphql'}" for name in NAMES
    ]
    subprocess.run(
        ["node", str(NODE_DIR / "compose.mjs"), str(out), *specs],
        cwd=NODE_DIR,
        check=True,
    )
    return out


def write_gateway_config(
    workdir: Path, subgraph_urls: dict[str, str], *, dedup: bool
) -> Path:
    config = workdir / f"gateway-dedup-{'on' if dedup else 'off'}.yaml"
    lines = ["version: 1", "subgraphs:"]
    for name in NAMES:
        lines += [
            f"  - name: {name}",
            f"    routing_url: {subgraph_urls[name]}",
            "    schema:",
            f"      file: {workdir / f'{name}.graphql'}",
        ]
    flag = "true" if dedup else "false"
    lines += [
        "gateway:",
        "  log_level: warning",
        f"  dedup_queries: {flag}",
        f"  dedup_requests: {flag}",
        # The heavy query's estimated complexity is about 108 000.
        "  limits:",
        "    complexity: 1000000",
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def write_grafbase_config(
    workdir: Path, subgraph_urls: dict[str, str], *, dedup: bool
) -> Path:
    config = workdir / f"grafbase-dedup-{'on' if dedup else 'off'}.toml"
    lines = []
    if not dedup:
        lines += ["[traffic_shaping]", "inflight_deduplication = false", ""]
    for name in NAMES:
        lines += [
            f"[subgraphs.{name}]",
            f'url = "{subgraph_urls[name]}"',
            f'schema_path = "{workdir / f"{name}.graphql"}"',
            "",
        ]
    config.write_text("\n".join(lines))
    return config


def launch(
    target: Target,
    port: int,
    workdir: Path,
    subgraph_urls: dict[str, str],
    supergraph: Path | None,
) -> subprocess.Popen[bytes]:
    """Start one target pinned to core 0; the returned pid is the server itself."""
    log = workdir / f"{target.name}.log"
    node_env = {"NODE_ENV": "production"}
    if target.family == "ours":
        config = write_gateway_config(workdir, subgraph_urls, dedup=target.dedup)
        argv = [PY, "-m", "gateway", "serve", "--config", str(config)]
        return start(pinned("0", [*argv, "--port", str(port)]), log)
    if target.family == "proxy":
        argv = [PY, "-m", "bench.proxy", "--upstream", subgraph_urls["products"]]
        return start(pinned("0", [*argv, "--port", str(port)]), log)
    if target.family == "floor":
        argv = [PY, "-m", "bench.floor", "--script", str(workdir / FLOOR_SCRIPT)]
        return start(pinned("0", [*argv, "--port", str(port)]), log)
    if target.family == "grafbase":
        config = write_grafbase_config(workdir, subgraph_urls, dedup=target.dedup)
        home = workdir / f"{target.name}-home"
        home.mkdir(exist_ok=True)
        argv = [
            str(grafbase_bin()),
            "--home",
            str(home),
            "dev",
            "-c",
            str(config),
            "--listen-address",
            f"127.0.0.1:{port}",
        ]
        return start(pinned("0", argv), log, {"NO_COLOR": "1"})
    assert supergraph is not None
    if target.family == "hive":
        # node runs the CLI's entry itself (no npx wrapper), one process: --fork 1.
        bin_js = NODE_DIR / "node_modules" / "@graphql-hive" / "gateway" / "dist"
        argv = [
            "node",
            str(bin_js / "bin.js"),
            "supergraph",
            str(supergraph),
            "--config-path",
            str(NODE_DIR / "hive.config.mjs"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--fork",
            "1",
        ] + (["--jit"] if target.jit else [])
        env = node_env | {
            "BENCH_HIVE_DEDUP": "1" if target.dedup else "0",
            "BENCH_HIVE_INBOUND": "1" if target.inbound else "0",
            "BENCH_HIVE_ROUTER": "1" if target.router else "0",
        }
        return start(pinned("0", argv), log, env)
    argv = ["node", str(NODE_DIR / "apollo.mjs"), str(supergraph), str(port)]
    return start(pinned("0", argv), log, node_env)


def child_pids(pid: int) -> list[int]:
    """Direct children of pid: a server that forks would hide its memory there."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


# ------------------------------------------------------------------ measuring


def run_wrk(
    url: str,
    query: str,
    *,
    seconds: int,
    connections: int,
    workdir: Path,
    expected: Path,
    subgraph_ports: dict[str, int],
    subgraph_pids: dict[str, list[int]],
    pid: int,
    what: str,
) -> Measurement:
    """One checked wrk run; ``RunFailed`` when any answer during it was bad."""
    argv = wrk_argv(
        url,
        query,
        seconds=seconds,
        connections=connections,
        workdir=workdir,
        expected=expected,
        timeout_s=WRK_TIMEOUT_S,
    )
    background = wait_for_quiet()
    counts = {name: subgraph_count(port) for name, port in subgraph_ports.items()}
    sub_cpu = {
        name: sum(process_cpu_seconds(p) for p in pids)
        for name, pids in subgraph_pids.items()
    }
    cpu = cpu_times()
    core = process_seconds_on("cpu0", proc_stat())
    spent = process_cpu_seconds(pid)
    began = time.monotonic()
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out, _ = wrk.communicate()
    wrk_cpu = _children_cpu_seconds()
    elapsed = time.monotonic() - began
    spent = process_cpu_seconds(pid) - spent
    core_after = process_seconds_on("cpu0", proc_stat())
    cpu_after = cpu_times()
    sub_cpu = {
        name: sum(process_cpu_seconds(p) for p in pids) - sub_cpu[name]
        for name, pids in subgraph_pids.items()
    }
    if wrk.returncode != 0:
        raise RunFailed(f"{what}: wrk exited with {wrk.returncode}")
    # Requests still in flight when wrk stops reach the subgraphs a moment later.
    time.sleep(0.2)
    after = {name: subgraph_count(port) for name, port in subgraph_ports.items()}
    sample = require_clean(parse_wrk(out), what)
    answered = total_requests(out)
    if answered == 0:
        raise RunFailed(f"{what}: no answer arrived within the {seconds} s measured")
    return Measurement(
        rps=sample.rps,
        p50_ms=sample.p50_ms,
        p99_ms=sample.p99_ms,
        requests=answered,
        cpu_ms_per_request=round(1000 * spent / answered, 4) if answered else 0.0,
        core_share=round(spent / elapsed, 3) if elapsed > 0 else 0.0,
        subgraph_requests={n: after[n][0] - counts[n][0] for n in counts},
        subgraph_misses={n: after[n][1] - counts[n][1] for n in counts},
        subgraph_cpu_share={
            n: round(v / elapsed, 3) if elapsed > 0 else 0.0 for n, v in sub_cpu.items()
        },
        wrk_cpu_share=round(wrk_cpu / elapsed, 3) if elapsed > 0 else 0.0,
        core1_busy=busy_share(cpu, cpu_after).get("cpu1", 0.0),
        background=background,
        others_cpu_s=others_on_core("cpu0", core, core_after, spent),
        elapsed_s=round(elapsed, 3),
    )


_WRK_CPU = [0.0]


def _children_cpu_seconds() -> float:
    """CPU the last reaped child (wrk) used: the growth of RUSAGE_CHILDREN."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    spent, _WRK_CPU[0] = total - _WRK_CPU[0], total
    return spent


def measure_once(
    result: Result, measure: Callable[[], Measurement], *, retries: int, note: str
) -> None:
    """Add one sample to result; a contended sample is measured again, retries times."""
    for attempt in range(retries + 1):
        sample = measure()
        redo = (
            contended(sample.others_cpu_s, sample.elapsed_s, LATENCY_CONTENDED)
            and attempt < retries
        )
        shares = " ".join(
            f"{n[:3]} {v:.2f}" for n, v in sample.subgraph_cpu_share.items()
        )
        print(
            f"{note}{sample.rps:8.0f} rps  p99 {sample.p99_ms:7.2f} ms  "
            f"CPU {sample.cpu_ms_per_request:6.3f} ms/req  "
            f"sg req/req {sample.subgraph_requests_per_request():5.2f}  "
            f"core0 {sample.core_share:4.2f}  core1 {sample.core1_busy:4.2f} "
            f"(wrk {sample.wrk_cpu_share:4.2f} {shares})"
            + ("  contended: again" if redo else ""),
            file=sys.stderr,
            flush=True,
        )
        if not redo:
            result.samples.append(sample)
            return
        result.discarded.append(sample)


# ------------------------------------------------------------------------ runner


def _discard(step: Callable[[], object]) -> None:
    step()


@contextmanager
def processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        stop(procs.values())


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(known)}"
        )
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --peers",
        description="The Guild's scenario through our gateway, Grafbase, Hive Gateway "
        "(four configs), Apollo Gateway and a bare proxy, in one run.",
    )
    names = [t.name for t in TARGETS]
    parser.add_argument(
        "--targets",
        type=functools.partial(_names, known=names, what="targets"),
        default=names,
        help="comma-separated subset of: " + ", ".join(names),
    )
    parser.add_argument(
        "--queries",
        type=functools.partial(_names, known=QUERY_NAMES, what="queries"),
        default=list(QUERY_NAMES),
        help="comma-separated subset of: light, join, heavy",
    )
    parser.add_argument("--seconds", type=int, default=5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2, help="seconds per cell")
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="times a sample is measured again when other processes took more "
        f"than {LATENCY_CONTENDED * 100:.0f}%% of the gateway's core",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "peers.json"
    )
    parser.add_argument(
        "--chart", type=Path, default=ROOT / "bench-results" / "peers.png"
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="the Markdown page whose generated part is rewritten (default: "
        "docs/performance.md, only when every target and query is measured)",
    )
    parser.add_argument(
        "--no-doc", action="store_true", help="leave docs/performance.md alone"
    )
    parser.add_argument(
        "--caveat",
        default="",
        help="a sentence printed under the run's date in the tables "
        "(e.g. 'Shared machine: indicative only.')",
    )
    return parser


def plan_cells(targets: Sequence[Target], queries: Sequence[str]) -> list[Target]:
    """The targets with their queries cut to ``queries`` (targets left with none go)."""
    out = []
    for target in targets:
        kept = tuple(q for q in target.queries if q in queries)
        if kept:
            out.append(replace(target, queries=kept))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 1 or args.retries < 0:
        parser.error("--rounds, --seconds, --warmup >= 1 and --retries >= 0, please")
    by_name = {t.name: t for t in TARGETS}
    targets = plan_cells([by_name[n] for n in args.targets], args.queries)
    if not targets:
        parser.error("no target runs any of the chosen queries")
    full = len(targets) == len(TARGETS) and set(args.queries) == set(QUERY_NAMES)
    doc = None if args.no_doc else (args.doc or (DOC if full else None))
    if not shutil.which("wrk"):
        raise SystemExit(
            "wrk is not installed (scripts/bench installs it with apt-get)"
        )
    started = time.monotonic()
    versions = {"node": node_version()}
    install_peers()
    families = {t.family for t in targets}
    for name, version in package_versions().items():
        if name == GRAFBASE:
            continue  # its binary's own --version, below
        versions[name] = version
    if "grafbase" in families:
        versions[f"{GRAFBASE} (grafbase --version)"] = grafbase_version()
    versions["python"] = platform.python_version()
    versions["gateway (ours)"] = _git_head()

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-peers-"))
    expected = {q: expected_answer(QUERIES[q]) for q in args.queries}
    floor_expected: dict[str, dict[str, Any]] = {}
    results: Results = {
        (t.name, q): Result(t.name, q) for t in targets for q in t.queries
    }
    peak: dict[str, int] = {}
    with processes() as procs:
        subgraph_ports, subgraph_pids = start_subgraphs(workdir, procs)
        subgraph_urls = {
            n: f"http://127.0.0.1:{p}/graphql" for n, p in subgraph_ports.items()
        }
        supergraph = compose_supergraph(workdir, subgraph_urls)
        if any(t.family == "floor" for t in targets):
            floor_expected = record_floor(workdir, subgraph_urls, args.queries)
        ports = {t.name: free_port() for t in targets}
        urls = {n: f"http://127.0.0.1:{p}/graphql" for n, p in ports.items()}
        for target in targets:
            procs[target.name] = launch(
                target, ports[target.name], workdir, subgraph_urls, supergraph
            )
        answers: dict[tuple[str, str], Path] = {}
        for target in targets:
            require_subgraphs(procs, workdir)
            log = workdir / f"{target.name}.log"
            try:
                wait_up(urls[target.name], procs[target.name], log)
                for query in target.queries:
                    what = f"{target.label}, {query}"
                    body = checked_answer(
                        urls[target.name],
                        QUERIES[query],
                        floor_expected[query]
                        if target.family == "floor"
                        else expected[query],
                        what,
                    )
                    path = workdir / f"expected-{target.name}-{query}.json"
                    path.write_bytes(body)
                    answers[(target.name, query)] = path
            except (SystemExit, OSError) as failure:
                reason = (
                    str(failure) if isinstance(failure, SystemExit) else repr(failure)
                )
                print(
                    f"{target.label}: FAILED before timing: {reason}", file=sys.stderr
                )
                for query in target.queries:
                    if (target.name, query) not in answers:
                        results[(target.name, query)].failure = reason
        require_subgraphs(procs, workdir)
        live = [
            (t, q)
            for t in targets
            for q in t.queries
            if results[(t.name, q)].failure is None
        ]
        print(
            f"{len(live)} gateway/query cells answer correctly; measuring in {workdir}",
            file=sys.stderr,
        )

        def measure(target: Target, query: str, seconds: int, what: str) -> Measurement:
            return run_wrk(
                urls[target.name],
                QUERIES[query],
                seconds=seconds,
                connections=args.connections,
                workdir=workdir,
                expected=answers[(target.name, query)],
                subgraph_ports=subgraph_ports,
                subgraph_pids=subgraph_pids,
                pid=procs[target.name].pid,
                what=what,
            )

        def attempt(target: Target, query: str, step: Callable[[], None]) -> None:
            result = results[(target.name, query)]
            if result.failure is not None:
                return
            try:
                step()
            except (SystemExit, OSError, subprocess.SubprocessError) as failure:
                result.failure = (
                    str(failure) if isinstance(failure, SystemExit) else repr(failure)
                )
                try:
                    require_subgraphs(procs, workdir)
                except SystemExit as gone:
                    result.failure += f" ({gone})"
                print(
                    f"{target.label}, {query}: FAILED: {result.failure}",
                    file=sys.stderr,
                )

        for target, query in live:
            warm = functools.partial(
                measure,
                target,
                query,
                args.warmup,
                f"warm-up of {target.label}, {query}",
            )
            attempt(target, query, functools.partial(_discard, warm))
        for round_no in range(args.rounds):
            order = live if round_no % 2 == 0 else live[::-1]
            for target, query in order:
                note = f"round {round_no + 1}: {target.label[:40]:40} {query:6}"
                what = f"round {round_no + 1} of {target.label}, {query}"
                attempt(
                    target,
                    query,
                    functools.partial(
                        measure_once,
                        results[(target.name, query)],
                        functools.partial(measure, target, query, args.seconds, what),
                        retries=args.retries,
                        note=note,
                    ),
                )
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(
                    f"warning: {name} (pid {proc.pid}) exited during the run with code "
                    f"{proc.returncode}; see {workdir / (name + '.log')}",
                    file=sys.stderr,
                )
        for target in targets:
            peak[target.name] = peak_rss_kib(procs[target.name].pid)
            children = child_pids(procs[target.name].pid)
            if children:
                print(
                    f"warning: {target.label} has child processes {children}: "
                    "its peak RSS and CPU cover the parent only",
                    file=sys.stderr,
                )

    duration = time.monotonic() - started
    header = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "duration_s": duration,
        "versions": versions,
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connections": args.connections,
            "warmup": args.warmup,
        },
        "caveat": args.caveat,
    }
    print()
    print(console_table(targets, results, peak))
    report = markdown_report(targets, results, peak, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(result_document(header, targets, results, peak), indent=2)
    )
    tables = args.out.with_suffix(".md")
    tables.write_text(report)
    print(f"\nwrote {args.out}\nwrote {tables}")
    charted = write_chart(args.chart, targets, results, peak)
    if charted:
        print(f"wrote {args.chart}")
    if doc is not None:
        doc.write_text(splice(doc.read_text() if doc.exists() else "", report))
        print(f"wrote {doc}")
        if charted:  # the page shows the chart of the run it reports
            figure = doc.with_name(DOC_CHART)
            shutil.copyfile(args.chart, figure)
            print(f"wrote {figure}")
    failed = [r for r in results.values() if not r.ok]
    for result in failed:
        print(
            f"FAILED: {result.target}, {result.query}: {result.failure}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def result_document(
    header: dict[str, Any],
    targets: Sequence[Target],
    results: Results,
    peak: dict[str, int],
) -> dict[str, Any]:
    """The machine-readable result: settings, versions, medians, every sample."""
    return {
        **header,
        "targets": {
            t.name: asdict(t) | {"peak_rss_kib": peak.get(t.name, 0)} for t in targets
        },
        "results": [
            {
                "target": r.target,
                "query": r.query,
                "failure": r.failure,
                **(
                    {
                        "median_rps": r.median("rps"),
                        "median_p50_ms": r.median("p50_ms"),
                        "median_p99_ms": r.median("p99_ms"),
                        "median_cpu_ms_per_request": r.median("cpu_ms_per_request"),
                        "subgraph_requests_per_request": r.subgraph_requests_per_request(),
                        "subgraph_cpu_share": r.subgraph_share(),
                    }
                    if r.ok
                    else {}
                ),
                "samples": [asdict(s) for s in r.samples],
                "discarded_contended": [asdict(s) for s in r.discarded],
            }
            for r in results.values()
        ],
    }


def _git_head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def origin_main(argv: Sequence[str]) -> None:
    """``python -m bench.peers origin NAME --port P``: one ``bench.guild`` subgraph."""
    from bench.guild import schema_for
    from bench.loop import serve
    from bench.subgraphs import create_app

    parser = argparse.ArgumentParser(prog="python -m bench.peers origin")
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(create_app(schema_for(args.name)), args.port)


if __name__ == "__main__":
    if sys.argv[1:2] == ["origin"]:
        origin_main(sys.argv[2:])
    else:
        raise SystemExit(main())
