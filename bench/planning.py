"""``scripts/bench --planning``: how long the planner takes, cold and cached.

For each case (a supergraph.yaml and an operation) it reports the median time of:

- ``graph``: building the query graph (once per supergraph, at start-up);
- ``cold``: planning the operation with nothing cached (the first request of a
  document);
- ``cached``: ``CachingQueryPlanner.plan`` for an operation already planned (every
  later request: a dictionary lookup keyed by the document).

Default cases: a 3-hop query over the 4-subgraph accounts/products/inventory/reviews
graph (with ``@requires``), and the largest query of the scenario folders.
``--config FILE --query FILE`` adds a case of your own (for example a federation
audit suite's supergraph.yaml and its largest query). Figures are medians of
``--iterations`` runs; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import ROOT

__all__ = ["main"]

SCENARIOS = ROOT / "tests" / "scenarios"
THREE_HOP = """
query ThreeHops {
  me {
    name
    reviews {
      body
      product {
        name
        inStock
        shippingEstimate
        reviews { author { username } }
      }
    }
  }
}
"""


@dataclass
class Case:
    name: str
    config: Path
    query: str


@dataclass
class Figures:
    case: str
    subgraphs: int
    fetches: int
    graph_us: float
    cold_us: float
    cached_us: float


def _median_us(run: Callable[[], object], iterations: int) -> float:
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(iterations):
            start = time.perf_counter_ns()
            run()
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return statistics.median(samples) / 1000


def _cached_us(run: Callable[[], object], iterations: int) -> float:
    """Per-call time of a fast call: batches of 1000, median batch."""
    batch = 1000
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(max(3, iterations // 10)):
            start = time.perf_counter_ns()
            for _ in range(batch):
                run()
            samples.append((time.perf_counter_ns() - start) / batch)
    finally:
        gc.enable()
    return statistics.median(samples) / 1000


def _fetch_count(node: object) -> int:
    from gateway.planner.nodes import Fetch, Flatten, Parallel, Sequence, Subscription

    if isinstance(node, Fetch):
        return 1
    if isinstance(node, Flatten):
        return 1
    if isinstance(node, (Sequence, Parallel)):
        return sum(_fetch_count(child) for child in node.nodes)
    if isinstance(node, Subscription):
        return 1 + (_fetch_count(node.rest) if node.rest is not None else 0)
    return 0


def measure(case: Case, iterations: int) -> Figures:
    from gateway.composition import compose
    from gateway.config import load_config
    from gateway.operation import OperationCache
    from gateway.planner import CachingQueryPlanner, QueryGraph, QueryPlanner

    config = load_config(case.config)
    sdl = []
    for subgraph in config.subgraphs:
        assert subgraph.schema_file is not None, f"{case.config}: needs schema files"
        sdl.append((subgraph.name, subgraph.schema_file.read_text()))
    supergraph = compose(sdl)
    operation = OperationCache(supergraph.schema).get(case.query, None)
    planner = QueryPlanner(supergraph)
    plan = planner.plan(operation)
    caching = CachingQueryPlanner(supergraph)
    caching.plan(operation, {})
    return Figures(
        case=case.name,
        subgraphs=len(sdl),
        fetches=_fetch_count(plan.node),
        graph_us=_median_us(lambda: QueryGraph(supergraph), max(5, iterations // 10)),
        cold_us=_median_us(lambda: planner.plan(operation), iterations),
        cached_us=_cached_us(lambda: caching.plan(operation, {}), iterations),
    )


def default_cases() -> list[Case]:
    folders = [
        p for p in sorted(SCENARIOS.iterdir()) if (p / "query.graphql").is_file()
    ]
    largest = max(folders, key=lambda p: len((p / "query.graphql").read_text()))
    return [
        Case(
            "4 subgraphs, 3 hops", SCENARIOS / "requires" / "supergraph.yaml", THREE_HOP
        ),
        Case(
            f"largest scenario ({largest.name})",
            largest / "supergraph.yaml",
            (largest / "query.graphql").read_text(),
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --planning")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--config", type=Path, help="a supergraph.yaml to add a case")
    parser.add_argument("--query", type=Path, help="the operation for --config")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "planning.json"
    )
    args = parser.parse_args(argv)
    cases = default_cases()
    if args.config is not None:
        if args.query is None:
            parser.error("--config needs --query")
        cases.append(Case(args.config.parent.name, args.config, args.query.read_text()))
    results = [measure(case, args.iterations) for case in cases]
    print(
        f"{'case':44} {'subgraphs':>9} {'fetches':>7} {'graph':>10} "
        f"{'cold plan':>10} {'cached':>8}"
    )
    for r in results:
        print(
            f"{r.case:44} {r.subgraphs:9d} {r.fetches:7d} {r.graph_us:8.0f}µs "
            f"{r.cold_us:8.0f}µs {r.cached_us:6.2f}µs"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0
