"""``scripts/bench``: the gateway beside a bare aiohttp proxy, measured in one run.

Every server under test is pinned to core 0; subgraphs and the load generator (wrk)
share core 1. After a warm-up, targets are measured in interleaved rounds and the
median of the rounds is reported, with ratios to the bare proxy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import (
    PY,
    ROOT,
    Sample,
    free_port,
    peak_rss_kib,
    pinned,
    post,
    start,
    stop,
    wait_until_up,
    wrk,
)
from bench.subgraphs import PRODUCTS_SDL, REVIEWS_SDL

SINGLE = "{ topProducts { upc name price } }"
JOIN = "{ topProducts { name price reviews { body stars } } }"


@dataclass
class Result:
    target: str
    scenario: str
    samples: list[Sample] = field(default_factory=list)
    peak_rss_kib: int = 0

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def write_config(
    workdir: Path, products: str, reviews: str, *, dedup: bool = True
) -> Path:
    (workdir / "products.graphql").write_text(PRODUCTS_SDL)
    (workdir / "reviews.graphql").write_text(REVIEWS_SDL)
    config = workdir / f"supergraph-{'dedup' if dedup else 'nodedup'}.yaml"
    config.write_text(
        "version: 1\n"
        "subgraphs:\n"
        "  - name: products\n"
        f"    routing_url: {products}\n"
        "    schema:\n"
        "      file: products.graphql\n"
        "  - name: reviews\n"
        f"    routing_url: {reviews}\n"
        "    schema:\n"
        "      file: reviews.graphql\n"
        "gateway:\n"
        "  log_level: warning\n"
        f"  dedup_queries: {'true' if dedup else 'false'}\n"
        f"  dedup_requests: {'true' if dedup else 'false'}\n"
    )
    return config


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Other modes: subscriptions over SSE, and the peer gateways.
    for flag, module in (
        ("--sse", "bench.sse"),
        ("--peers", "bench.peers"),
        ("--planning", "bench.planning"),
        ("--guild", "bench.cpu"),
    ):
        if flag in args_list:
            mode = importlib.import_module(module)
            rest = [a for a in args_list if a != flag]
            return int(mode.main(rest) or 0)
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        epilog="--sse: subscriptions (bench/sse.py); --peers: peer gateways "
        "(bench/peers.py); --planning: the query planner, cold and cached "
        "(bench/planning.py); --guild: CPU per request on The Guild's scenario, "
        "before and after (bench/cpu.py; with --instructions, CPU instructions "
        "under valgrind); each has its own --help.",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "bench.json"
    )
    args = parser.parse_args(args_list)
    if not shutil.which("wrk"):
        raise SystemExit(
            "wrk is not installed (scripts/bench installs it with apt-get)"
        )

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    names = ("products", "reviews", "proxy", "gateway", "gw-nodedup")
    ports = {name: free_port() for name in names}
    urls = {name: f"http://127.0.0.1:{port}/graphql" for name, port in ports.items()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("products", "reviews"):
            procs[name] = start(
                pinned(
                    "1", [PY, "-m", "bench.subgraphs", name, "--port", str(ports[name])]
                ),
                workdir / f"{name}.log",
            )
        procs["proxy"] = start(
            pinned(
                "0",
                [
                    PY,
                    "-m",
                    "bench.proxy",
                    "--port",
                    str(ports["proxy"]),
                    "--upstream",
                    urls["products"],
                ],
            ),
            workdir / "proxy.log",
        )
        for name, dedup in (("gateway", True), ("gw-nodedup", False)):
            config = write_config(
                workdir, urls["products"], urls["reviews"], dedup=dedup
            )
            argv = [PY, "-m", "gateway", "serve", "--config", str(config)]
            procs[name] = start(
                pinned("0", [*argv, "--port", str(ports[name])]),
                workdir / f"{name}.log",
            )
        for name in ports:
            wait_until_up(urls[name])

        # The gateway must give the same data as the subgraph itself before it is timed.
        direct = post(urls["products"], SINGLE)
        through = post(urls["gateway"], SINGLE)
        if direct != through:
            raise SystemExit(f"gateway answer differs:\n{through}\nvs\n{direct}")
        joined = post(urls["gateway"], JOIN)
        if joined.get("errors") or not joined["data"]["topProducts"][0]["reviews"]:
            raise SystemExit(f"join failed: {joined}")

        plan = [
            ("proxy", "single", SINGLE),
            ("gateway", "single", SINGLE),
            ("gw-nodedup", "single", SINGLE),
            ("gateway", "join", JOIN),
            ("gw-nodedup", "join", JOIN),
        ]
        results = {(t, s): Result(t, s) for t, s, _ in plan}

        def run(target: str, query: str, seconds: float, what: str) -> Sample:
            return wrk(
                urls[target],
                query,
                seconds=seconds,
                connections=args.connections,
                workdir=workdir,
                what=what,
            )

        for target, scenario, query in plan:
            run(target, query, args.warmup, f"warm-up of {target} {scenario}")
        for round_no in range(args.rounds):
            order = plan if round_no % 2 == 0 else list(reversed(plan))
            for target, scenario, query in order:
                what = f"round {round_no + 1}: {target} {scenario}"
                sample = run(target, query, args.seconds, what)
                results[(target, scenario)].samples.append(sample)
                print(
                    f"round {round_no + 1}: {target:10} {scenario:7} "
                    f"{sample.rps:9.0f} rps  p50 {sample.p50_ms:6.2f} ms  "
                    f"p99 {sample.p99_ms:6.2f} ms  errors {sample.errors}",
                    file=sys.stderr,
                )
        for (target, _), result in results.items():
            result.peak_rss_kib = peak_rss_kib(procs[target].pid)

        print()
        print(
            f"{'target':12}{'scenario':10}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'peak RSS':>11}{'errors':>8}"
        )
        for result in results.values():
            print(
                f"{result.target:12}{result.scenario:10}{result.median('rps'):10.0f}"
                f"{result.median('p50_ms'):9.2f}{result.median('p99_ms'):9.2f}"
                f"{result.peak_rss_kib / 1024:9.1f}MB"
                f"{sum(s.errors for s in result.samples):8d}"
            )
        proxy = results[("proxy", "single")]
        ratios: dict[str, float] = {}
        print()
        for name, label in (("gateway", "dedup on"), ("gw-nodedup", "dedup off")):
            gateway = results[(name, "single")]
            ratio = gateway.median("rps") / proxy.median("rps")
            ratios[f"{name}_over_proxy_rps_single"] = ratio
            p99 = gateway.median("p99_ms") / max(proxy.median("p99_ms"), 1e-9)
            print(
                f"gateway ({label}) / proxy, single-subgraph query: RPS {ratio:.2f}x "
                f"(bar >= 0.85x: {'PASS' if ratio >= 0.85 else 'MISS'}), p99 {p99:.2f}x"
            )

        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "settings": vars(args) | {"out": str(args.out)},
                    "results": [
                        asdict(r)
                        | {
                            "median_rps": r.median("rps"),
                            "median_p50_ms": r.median("p50_ms"),
                            "median_p99_ms": r.median("p99_ms"),
                        }
                        for r in results.values()
                    ],
                    "ratios": ratios,
                },
                indent=2,
            )
        )
        print(f"wrote {args.out}")
        return 0
    finally:
        stop(procs.values())


if __name__ == "__main__":
    raise SystemExit(main())
