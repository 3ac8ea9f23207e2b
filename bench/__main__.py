"""``scripts/bench``: the gateway beside a bare aiohttp proxy, measured in one run.

Every server under test is pinned to core 0; subgraphs and the load generator (wrk)
share core 1. After a warm-up, targets are measured in interleaved rounds and the
median of the rounds is reported, with ratios to the bare proxy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.subgraphs import PRODUCTS_SDL, REVIEWS_SDL

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

SINGLE = "{ topProducts { upc name price } }"
JOIN = "{ topProducts { name price reviews { body stars } } }"


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Result:
    target: str
    scenario: str
    samples: list[Sample] = field(default_factory=list)
    peak_rss_kib: int = 0

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *argv]
    return argv


def start(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def post(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            post(url, "{ __typename }")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up in {timeout}s") from None
            time.sleep(0.1)


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wrk_argv(
    url: str, query: str, *, seconds: float, connections: int, workdir: Path
) -> list[str]:
    """The wrk command (pinned to core 1) that POSTs ``query`` to ``url``."""
    script = workdir / "post.lua"
    body = json.dumps({"query": query})
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return pinned(
        "1",
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
    )


def wrk(
    url: str, query: str, *, seconds: float, connections: int, workdir: Path
) -> Sample:
    argv = wrk_argv(
        url, query, seconds=seconds, connections=connections, workdir=workdir
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def _ms(text: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def parse_wrk(out: str) -> Sample:
    rps = p50 = p99 = 0.0
    errors = 0
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif len(parts) == 2 and parts[0] == "50%":
            p50 = _ms(parts[1])
        elif len(parts) == 2 and parts[0] == "99%":
            p99 = _ms(parts[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            errors += sum(int(x.rstrip(",")) for x in parts if x.rstrip(",").isdigit())
    return Sample(rps=rps, p50_ms=p50, p99_ms=p99, errors=errors)


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
    )
    return config


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Other modes: subscriptions over SSE, and the peer gateways.
    for flag, module in (("--sse", "bench.sse"), ("--peers", "bench.peers")):
        if flag in args_list:
            mode = importlib.import_module(module)
            rest = [a for a in args_list if a != flag]
            return int(mode.main(rest) or 0)
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        epilog="--sse: subscriptions (bench/sse.py); --peers: peer gateways "
        "(bench/peers.py); each has its own --help.",
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
        for target, _, query in plan:
            wrk(
                urls[target],
                query,
                seconds=args.warmup,
                connections=args.connections,
                workdir=workdir,
            )
        for round_no in range(args.rounds):
            order = plan if round_no % 2 == 0 else list(reversed(plan))
            for target, scenario, query in order:
                sample = wrk(
                    urls[target],
                    query,
                    seconds=args.seconds,
                    connections=args.connections,
                    workdir=workdir,
                )
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
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
