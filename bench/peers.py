"""``scripts/bench --peers``: our gateway beside Hive Gateway, Apollo Gateway and a proxy.

Every gateway is pinned to core 0; the subgraphs and the load generator (wrk) share
core 1. The same two subgraphs (``bench.subgraphs``, wrapped here to count the requests
they receive) serve every gateway. Hive Gateway and Apollo Gateway are installed with
npm from ``bench/peers/package.json`` into ``.cache/bench-peers`` and load one
supergraph composed by ``@apollo/composition``; our gateway reads the same subgraph SDL
from a ``supergraph.yaml``. Each gateway runs with in-flight deduplication on and off
where it has the option. Before anything is timed, every gateway must return the same
data as the subgraphs joined by hand. Then: warm-up, interleaved rounds, medians; a
sample taken while another process held the gateway's core is measured again.

Writes ``bench-results/peers.json``, ``peers.md`` (tables) and ``peers.png`` (chart).
Subscriptions beside Hive Gateway's SSE are measured by ``scripts/bench --sse --peers``
(``bench/sse.py``, which installs the peers with ``install_peers`` from here).
See docs/performance.md.
``python -m bench.peers subgraph NAME --port P`` runs one counting subgraph.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from bench.__main__ import JOIN, SINGLE
from bench.common import (
    CONTENDED,
    PY,
    ROOT,
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
    wait_until_up,
    wrk_argv,
)
from bench.subgraphs import PRODUCTS_SDL, REVIEWS_SDL

__all__ = ["main", "subgraph_main"]

PEERS_SRC = ROOT / "bench" / "peers"
NODE_DIR = ROOT / ".cache" / "bench-peers"
SUBGRAPHS = ("products", "reviews")
SCENARIOS = {"single": SINGLE, "join": JOIN}

# Bars from the issue: ours over the peer (RPS), ours over the peer (p99, RSS).
RPS_BAR_HIVE = 2.5
RPS_BAR_APOLLO = 2.0
P99_BAR_HIVE = 0.5
RSS_BAR_HIVE = 0.2


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Target:
    """One server under test: a gateway in one configuration, or the bare proxy."""

    name: str
    label: str
    family: str  # "ours" | "hive" | "apollo" | "proxy"
    dedup: bool | None  # None: the server has no such option
    scenarios: tuple[str, ...] = ("single", "join")


TARGETS = (
    # Like for like first (one subgraph request per fetch): the tables lead with these.
    Target("ours-nodedup", "gateway (dedup off)", "ours", False),
    Target("hive-nodedup", "Hive Gateway (dedup off)", "hive", False),
    Target("apollo", "Apollo Gateway", "apollo", None),
    # A pass-through proxy cannot join: it is the ceiling for the single-subgraph query.
    Target("proxy", "bare aiohttp proxy", "proxy", None, ("single",)),
    # In-flight deduplication on, both gateways' default: beside the figures above.
    Target("ours", "gateway (dedup on)", "ours", True),
    Target("hive", "Hive Gateway (dedup on)", "hive", True),
)


# ---------------------------------------------------------------- counting subgraphs


def subgraph_main(argv: Sequence[str] | None = None) -> None:
    """Serve one bench subgraph and count the GraphQL requests it receives.

    ``GET /count`` answers ``{"requests": N}``; the bench reads it around each
    measurement to show how many subgraph requests one client request costs.
    """
    from aiohttp import web

    from bench.loop import serve
    from bench.subgraphs import create_app, schema_for

    parser = argparse.ArgumentParser(prog="python -m bench.peers subgraph")
    parser.add_argument("name", choices=SUBGRAPHS)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    inner = create_app(schema_for(args.name))
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    for route in inner.router.routes():
        if route.method == "POST":
            handler = route.handler
    if handler is None:
        raise SystemExit("bench.subgraphs.create_app has no POST route")
    answer = handler
    count = 0

    async def graphql(request: web.Request) -> web.StreamResponse:
        nonlocal count
        count += 1
        return await answer(request)

    async def requests(_: web.Request) -> web.Response:
        return web.json_response({"requests": count})

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    app.router.add_get("/count", requests)
    serve(app, args.port)


def subgraph_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
        return int(json.loads(r.read())["requests"])


# ------------------------------------------------------------------- measurements


@dataclass(slots=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    subgraph_requests: dict[str, int]
    cpu_busy: dict[str, float]
    # CPU time the server process spent per answered request: unlike RPS, it barely
    # moves when something else on the machine competes for the cores.
    cpu_ms_per_request: float
    # The share of one core the server process got while wrk ran (1.0: all of it).
    core_share: float
    # How busy core 0 was just before, with every server under test idle.
    background: float
    # Process time other processes spent on the server's core while wrk ran.
    others_cpu_s: float = 0.0
    elapsed_s: float = 0.0

    def contended(self) -> bool:
        """Another process ran on the server's core (``bench.common.contended``)."""
        return contended(self.others_cpu_s, self.elapsed_s)


@dataclass(slots=True)
class Result:
    target: str
    scenario: str
    samples: list[Measurement] = field(default_factory=list)
    discarded: list[Measurement] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)

    def contended(self) -> int:
        """How many of the kept samples were contended (retries ran out)."""
        return sum(s.contended() for s in self.samples)

    def subgraph_requests_per_request(self) -> float:
        sent = sum(sum(s.subgraph_requests.values()) for s in self.samples)
        answered = sum(s.requests for s in self.samples)
        return sent / answered if answered else 0.0


def run_wrk(
    url: str,
    query: str,
    *,
    seconds: int,
    connections: int,
    workdir: Path,
    subgraph_ports: dict[str, int],
    pid: int,
) -> Measurement:
    argv = wrk_argv(
        url, query, seconds=seconds, connections=connections, workdir=workdir
    )
    background = wait_for_quiet()
    counts = {name: subgraph_count(port) for name, port in subgraph_ports.items()}
    cpu = cpu_times()
    core = process_seconds_on("cpu0", proc_stat())
    spent = process_cpu_seconds(pid)
    began = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - began
    spent = process_cpu_seconds(pid) - spent
    core_after = process_seconds_on("cpu0", proc_stat())
    cpu_after = cpu_times()
    # Requests still in flight when wrk stops reach the subgraphs a moment later.
    time.sleep(0.2)
    sent = {
        name: subgraph_count(port) - counts[name]
        for name, port in subgraph_ports.items()
    }
    sample = require_clean(parse_wrk(out), f"wrk against {url} ({query})")
    answered = total_requests(out)
    return Measurement(
        rps=sample.rps,
        p50_ms=sample.p50_ms,
        p99_ms=sample.p99_ms,
        errors=sample.errors,
        requests=answered,
        subgraph_requests=sent,
        cpu_busy=busy_share(cpu, cpu_after),
        cpu_ms_per_request=round(1000 * spent / answered, 4) if answered else 0.0,
        core_share=round(spent / elapsed, 3) if elapsed > 0 else 0.0,
        background=background,
        others_cpu_s=others_on_core("cpu0", core, core_after, spent),
        elapsed_s=round(elapsed, 3),
    )


def measure_once(
    result: Result, measure: Callable[[], Measurement], *, retries: int, note: str
) -> None:
    """Add one sample to result; a contended sample is measured again, retries times."""
    for attempt in range(retries + 1):
        sample = measure()
        redo = sample.contended() and attempt < retries
        per_request = sum(sample.subgraph_requests.values()) / max(sample.requests, 1)
        print(
            f"{note}{sample.rps:8.0f} rps  p50 {sample.p50_ms:6.2f} ms  "
            f"p99 {sample.p99_ms:6.2f} ms  "
            f"CPU {sample.cpu_ms_per_request:5.3f} ms/req  "
            f"subgraph req/req {per_request:5.3f}  "
            f"core share {sample.core_share:4.2f}  "
            f"busy {sample.cpu_busy}  errors {sample.errors}"
            + ("  contended: again" if redo else ""),
            file=sys.stderr,
        )
        if not redo:
            result.samples.append(sample)
            return
        result.discarded.append(sample)


# ---------------------------------------------------------------- correctness gate


def post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def expected_answers(subgraph_urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The answer to each scenario, joined by hand from the subgraphs themselves."""
    single = post_json(subgraph_urls["products"], {"query": SINGLE})
    products = post_json(
        subgraph_urls["products"], {"query": "{ topProducts { upc name price } }"}
    )["data"]["topProducts"]
    entities = post_json(
        subgraph_urls["reviews"],
        {
            "query": "query($r: [_Any!]!) { _entities(representations: $r) "
            "{ ... on Product { reviews { body stars } } } }",
            "variables": {
                "r": [{"__typename": "Product", "upc": p["upc"]} for p in products]
            },
        },
    )["data"]["_entities"]
    join = {
        "data": {
            "topProducts": [
                {"name": p["name"], "price": p["price"], "reviews": e["reviews"]}
                for p, e in zip(products, entities, strict=True)
            ]
        }
    }
    if single.get("errors") or not join["data"]["topProducts"][0]["reviews"]:
        raise SystemExit(f"the bench subgraphs answer badly: {single} {join}")
    return {"single": single, "join": join}


def check_answers(
    url: str, target: Target, expected: dict[str, dict[str, Any]]
) -> None:
    """Identical data, field order included, and no errors, before any timing."""
    for scenario in target.scenarios:
        got = post_json(url, {"query": SCENARIOS[scenario]})
        want = expected[scenario]
        if json.dumps(got) != json.dumps(want):
            raise SystemExit(
                f"{target.label} answers the {scenario} query differently:\n"
                f"  got:  {json.dumps(got)[:600]}\n  want: {json.dumps(want)[:600]}"
            )


# ----------------------------------------------------------------- peer gateways


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


def compose_supergraph(workdir: Path, subgraph_urls: dict[str, str]) -> Path:
    out = workdir / "supergraph.graphql"
    specs = [
        f"{name}={subgraph_urls[name]}={workdir / f'{name}.graphql'}"
        for name in SUBGRAPHS
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
    config = workdir / f"supergraph-dedup-{'on' if dedup else 'off'}.yaml"
    lines = ["version: 1", "subgraphs:"]
    for name in SUBGRAPHS:
        lines += [
            f"  - name: {name}",
            f"    routing_url: {subgraph_urls[name]}",
            "    schema:",
            f"      file: {name}.graphql",
        ]
    lines += [
        "gateway:",
        "  log_level: warning",
        f"  dedup_queries: {'true' if dedup else 'false'}",
        f"  dedup_requests: {'true' if dedup else 'false'}",
    ]
    config.write_text("\n".join(lines) + "\n")
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
        config = write_gateway_config(workdir, subgraph_urls, dedup=bool(target.dedup))
        argv = [PY, "-m", "gateway", "serve", "--config", str(config)]
        return start(pinned("0", [*argv, "--port", str(port)]), log)
    if target.family == "proxy":
        argv = [PY, "-m", "bench.proxy", "--upstream", subgraph_urls["products"]]
        return start(pinned("0", [*argv, "--port", str(port)]), log)
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
        ]
        env = node_env | {"BENCH_HIVE_DEDUP": "1" if target.dedup else "0"}
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


# ------------------------------------------------------------------------ report


class Comparison(TypedDict):
    """Our figure over the peer's, per scenario; ``bars`` holds the issue's bars."""

    scenario: str
    ours: str
    peer: str
    rps: float
    p99: float
    peak_rss: float
    cpu_ms_per_request: float
    bars: dict[str, bool]


def ratio(ours: float, peer: float) -> float:
    return ours / peer if peer else float("inf")


def comparisons(
    results: dict[tuple[str, str], Result], peak: dict[str, int]
) -> list[Comparison]:
    """Ours against each peer, like for like, with the issue's bars."""
    pairs = [
        ("ours", "hive"),
        ("ours-nodedup", "hive-nodedup"),
        ("ours", "apollo"),
        ("ours-nodedup", "apollo"),
        ("ours", "proxy"),
        ("ours-nodedup", "proxy"),
    ]
    rows: list[Comparison] = []
    for scenario in SCENARIOS:
        for ours_name, peer_name in pairs:
            ours = results.get((ours_name, scenario))
            peer = results.get((peer_name, scenario))
            if ours is None or peer is None or not ours.samples or not peer.samples:
                continue
            row: Comparison = {
                "scenario": scenario,
                "ours": ours_name,
                "peer": peer_name,
                "rps": ratio(ours.median("rps"), peer.median("rps")),
                "p99": ratio(ours.median("p99_ms"), peer.median("p99_ms")),
                "peak_rss": ratio(peak[ours_name], peak[peer_name]),
                "cpu_ms_per_request": ratio(
                    ours.median("cpu_ms_per_request"),
                    peer.median("cpu_ms_per_request"),
                ),
                "bars": {},
            }
            if peer_name.startswith("hive"):
                row["bars"] = {
                    f"rps >= {RPS_BAR_HIVE}x": row["rps"] >= RPS_BAR_HIVE,
                    f"p99 <= {P99_BAR_HIVE}x": row["p99"] <= P99_BAR_HIVE,
                    f"peak RSS <= {RSS_BAR_HIVE}x": row["peak_rss"] <= RSS_BAR_HIVE,
                }
            elif peer_name == "apollo":
                row["bars"] = {
                    f"rps >= {RPS_BAR_APOLLO}x": row["rps"] >= RPS_BAR_APOLLO
                }
            rows.append(row)
    return rows


def print_report(
    results: dict[tuple[str, str], Result],
    peak: dict[str, int],
    rows: list[Comparison],
    labels: dict[str, str],
) -> None:
    print()
    print(
        f"{'target':26}{'scenario':9}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'peak RSS':>11}{'CPU ms/req':>12}{'subgraph req/req':>18}{'errors':>8}"
    )
    for (name, scenario), result in results.items():
        print(
            f"{labels[name]:26}{scenario:9}{result.median('rps'):9.0f}"
            f"{result.median('p50_ms'):9.2f}{result.median('p99_ms'):9.2f}"
            f"{peak[name] / 1024:9.1f}MB"
            f"{result.median('cpu_ms_per_request'):12.3f}"
            f"{result.subgraph_requests_per_request():18.3f}"
            f"{sum(s.errors for s in result.samples):8d}"
            + (f"  ({result.contended()} contended)" if result.contended() else "")
        )
    print()
    print(
        f"{'ours':22}{'over':26}{'scenario':9}{'rps':>7}{'p99':>7}{'RSS':>7}"
        f"{'CPU/req':>9}  bars"
    )
    for row in rows:
        bars = ", ".join(
            f"{name} {'PASS' if ok else 'MISS'}" for name, ok in row["bars"].items()
        )
        print(
            f"{labels[row['ours']]:22}{labels[row['peer']]:26}{row['scenario']:9}"
            f"{row['rps']:6.2f}x{row['p99']:6.2f}x{row['peak_rss']:6.2f}x"
            f"{row['cpu_ms_per_request']:8.2f}x  {bars}"
        )


def markdown_tables(
    results: dict[tuple[str, str], Result],
    peak: dict[str, int],
    rows: list[Comparison],
    labels: dict[str, str],
) -> str:
    """The two report tables as Markdown, ready for docs/performance.md."""
    out = [
        "| target | scenario | RPS | p50 ms | p99 ms | peak RSS MB "
        "| CPU ms/request | subgraph requests/request | note |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for (name, scenario), result in results.items():
        out.append(
            f"| {labels[name]} | {scenario} | {result.median('rps'):.0f} "
            f"| {result.median('p50_ms'):.2f} | {result.median('p99_ms'):.2f} "
            f"| {peak[name] / 1024:.0f} | {result.median('cpu_ms_per_request'):.3f} "
            f"| {result.subgraph_requests_per_request():.3f} |"
            + (f" {result.contended()} contended |" if result.contended() else " |")
        )
    out += [
        "",
        "| ours | over | scenario | RPS | p99 | peak RSS | CPU/request | bars |",
        "|---|---|---|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        bars = ", ".join(
            f"{name}: {'pass' if ok else 'MISS'}" for name, ok in row["bars"].items()
        )
        out.append(
            f"| {labels[row['ours']]} | {labels[row['peer']]} | {row['scenario']} "
            f"| {row['rps']:.2f}x | {row['p99']:.2f}x | {row['peak_rss']:.2f}x "
            f"| {row['cpu_ms_per_request']:.2f}x | {bars or '-'} |"
        )
    return "\n".join(out) + "\n"


def write_chart(
    path: Path,
    results: dict[tuple[str, str], Result],
    peak: dict[str, int],
    labels: dict[str, str],
) -> bool:
    """Four panels: RPS, p99 and CPU per request by scenario; peak RSS by target."""
    try:
        import matplotlib
    except ImportError:
        print(
            "matplotlib is not installed: no chart "
            "(.venv/bin/python -m pip install matplotlib)",
            file=sys.stderr,
        )
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for name, _ in results))
    colours = {n: f"C{i}" for i, n in enumerate(names)}
    panels = [
        ("requests / s (higher is better)", "rps", "%.0f"),
        ("p99 latency, ms (lower is better)", "p99_ms", "%.1f"),
        ("gateway CPU ms per request (lower is better)", "cpu_ms_per_request", "%.2f"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(20, 5.5))
    width = 0.8 / max(len(names), 1)
    for ax, (title, attr, fmt) in zip(axes, panels, strict=False):
        for i, name in enumerate(names):
            xs, ys = [], []
            for j, scenario in enumerate(SCENARIOS):
                result = results.get((name, scenario))
                if result is not None and result.samples:
                    xs.append(j + i * width)
                    ys.append(result.median(attr))
            bars = ax.bar(xs, ys, width, label=labels[name], color=colours[name])
            ax.bar_label(bars, fmt=fmt, fontsize=7)
        ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(SCENARIOS))])
        ax.set_xticklabels(["single subgraph", "entity join"])
        ax.set_title(title, fontsize=10)
    ax = axes[3]
    bars = ax.bar(
        range(len(names)),
        [peak[n] / 1024 for n in names],
        color=[colours[n] for n in names],
    )
    ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([labels[n] for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_title("peak RSS, MB (lower is better)", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Each gateway pinned to one core; same subgraphs, same load; median of rounds"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------ runner


@contextmanager
def processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        stop(procs.values())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench --peers",
        description="Our gateway beside Hive Gateway, Apollo Gateway and a bare proxy.",
    )
    parser.add_argument(
        "--seconds", type=int, default=5, help="per measurement (whole seconds)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2, help="seconds per target")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a sample is measured again when other processes took more "
        f"than {CONTENDED * 100:.0f}%% of the gateway's core",
    )
    parser.add_argument(
        "--targets",
        default=",".join(t.name for t in TARGETS),
        help="comma-separated subset of: " + ", ".join(t.name for t in TARGETS),
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "peers.json"
    )
    parser.add_argument(
        "--chart", type=Path, default=ROOT / "bench-results" / "peers.png"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    by_name = {t.name: t for t in TARGETS}
    unknown = [n for n in args.targets.split(",") if n not in by_name]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    targets = [by_name[n] for n in args.targets.split(",")]
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 1 or args.retries < 0:
        parser.error("--rounds, --seconds, --warmup >= 1 and --retries >= 0, please")
    if not shutil.which("wrk"):
        raise SystemExit(
            "wrk is not installed (scripts/bench installs it with apt-get)"
        )
    peers = any(t.family in ("hive", "apollo") for t in targets)
    versions: dict[str, str] = {}
    if peers:
        versions["node"] = node_version()
        install_peers()
        versions |= package_versions()
    versions["python"] = platform.python_version()

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-peers-"))
    (workdir / "products.graphql").write_text(PRODUCTS_SDL)
    (workdir / "reviews.graphql").write_text(REVIEWS_SDL)
    subgraph_ports = {name: free_port() for name in SUBGRAPHS}
    subgraph_urls = {
        n: f"http://127.0.0.1:{p}/graphql" for n, p in subgraph_ports.items()
    }
    ports = {t.name: free_port() for t in targets}
    urls = {n: f"http://127.0.0.1:{p}/graphql" for n, p in ports.items()}
    labels = {t.name: t.label for t in targets}
    started = time.monotonic()
    with processes() as procs:
        for name, port in subgraph_ports.items():
            argv_ = [PY, "-m", "bench.peers", "subgraph", name, "--port", str(port)]
            procs[name] = start(pinned("1", argv_), workdir / f"{name}.log")
        for name in SUBGRAPHS:
            wait_until_up(subgraph_urls[name])
        supergraph = compose_supergraph(workdir, subgraph_urls) if peers else None
        for target in targets:
            procs[target.name] = launch(
                target, ports[target.name], workdir, subgraph_urls, supergraph
            )
        for target in targets:
            if procs[target.name].poll() is not None:
                raise SystemExit(
                    f"{target.label} exited; see {workdir / (target.name + '.log')}"
                )
            wait_until_up(urls[target.name])

        expected = expected_answers(subgraph_urls)
        for target in targets:
            check_answers(urls[target.name], target, expected)
        print(
            f"all {len(targets)} targets give identical answers; measuring",
            file=sys.stderr,
        )

        plan = [(t.name, s) for t in targets for s in t.scenarios]
        results = {(name, s): Result(name, s) for name, s in plan}

        def measure(name: str, scenario: str, seconds: int) -> Measurement:
            return run_wrk(
                urls[name],
                SCENARIOS[scenario],
                seconds=seconds,
                connections=args.connections,
                workdir=workdir,
                subgraph_ports=subgraph_ports,
                pid=procs[name].pid,
            )

        for name, scenario in plan:
            measure(name, scenario, args.warmup)
        for round_no in range(args.rounds):
            order = plan if round_no % 2 == 0 else list(reversed(plan))
            for name, scenario in order:
                measure_once(
                    results[(name, scenario)],
                    functools.partial(measure, name, scenario, args.seconds),
                    retries=args.retries,
                    note=f"round {round_no + 1}: {labels[name]:26} {scenario:7}",
                )
        peak = {t.name: peak_rss_kib(procs[t.name].pid) for t in targets}
        forked = {t.name: child_pids(procs[t.name].pid) for t in targets}

    rows = comparisons(results, peak)
    print_report(results, peak, rows, labels)
    for name, children in forked.items():
        if children:
            print(
                f"warning: {labels[name]} has child processes {children}: "
                "its peak RSS covers the parent only",
                file=sys.stderr,
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = result_document(
        args, targets, versions, results, peak, rows, time.monotonic() - started
    )
    args.out.write_text(json.dumps(document, indent=2))
    tables = args.out.with_suffix(".md")
    tables.write_text(markdown_tables(results, peak, rows, labels))
    print(f"wrote {tables}")
    print(f"wrote {args.out}")
    if write_chart(args.chart, results, peak, labels):
        print(f"wrote {args.chart}")
    return 0


def result_document(
    args: argparse.Namespace,
    targets: Sequence[Target],
    versions: dict[str, str],
    results: dict[tuple[str, str], Result],
    peak: dict[str, int],
    rows: list[Comparison],
    duration: float,
) -> dict[str, Any]:
    """The machine-readable result: settings, versions, medians, samples, ratios."""
    return {
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connections": args.connections,
            "warmup": args.warmup,
            "targets": [t.name for t in targets],
            "gateway_core": 0,
            "load_and_subgraph_core": 1,
        },
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "versions": versions,
        },
        "duration_s": round(duration, 1),
        "targets": {
            t.name: asdict(t) | {"peak_rss_kib": peak[t.name]} for t in targets
        },
        "results": [
            {
                "target": r.target,
                "scenario": r.scenario,
                "median_rps": r.median("rps"),
                "median_p50_ms": r.median("p50_ms"),
                "median_p99_ms": r.median("p99_ms"),
                "median_cpu_ms_per_request": r.median("cpu_ms_per_request"),
                "peak_rss_kib": peak[r.target],
                "subgraph_requests_per_request": (r.subgraph_requests_per_request()),
                "samples": [asdict(s) for s in r.samples],
                "discarded_contended": [asdict(s) for s in r.discarded],
                "kept_contended": r.contended(),
            }
            for r in results.values()
        ],
        "comparisons": rows,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    if sys.argv[1:2] == ["subgraph"]:
        subgraph_main(sys.argv[2:])
    else:
        raise SystemExit(main())
