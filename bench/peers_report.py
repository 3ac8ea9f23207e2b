"""The report of ``scripts/bench --peers``: medians, the issue's bars, Markdown, chart.

Everything here is a pure function of the measured samples (``Result``), so it is
tested without running a gateway. ``splice`` puts the generated Markdown between two
markers of docs/performance.md and leaves the hand-written rest of the page alone.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import LATENCY_CONTENDED, contended

__all__ = [
    "BEGIN",
    "END",
    "Bar",
    "Measurement",
    "Result",
    "Target",
    "bars",
    "console_table",
    "markdown_report",
    "splice",
    "write_chart",
]

QUERY_NAMES = ("light", "join", "heavy")
SATURATED = 0.95
"""Core 1 (subgraphs and wrk) at least this busy: the load side may be the bottleneck."""
BEGIN = "<!-- BEGIN scripts/bench --peers (generated: do not edit by hand) -->"
END = "<!-- END scripts/bench --peers -->"


@dataclass(frozen=True, slots=True)
class Target:
    """One server under test: a gateway in one configuration, the bare proxy, or
    the floor (``bench.floor``)."""

    name: str
    label: str
    family: str  # "ours" | "hive" | "apollo" | "grafbase" | "proxy" | "floor"
    group: str  # "like" (no dedup of any kind) | "dedup"
    settings: str  # the configuration, as the tables state it
    queries: tuple[str, ...] = QUERY_NAMES
    dedup: bool = False  # ours: both kinds; Hive Gateway: outbound (subgraph) requests
    inbound: bool = False  # Hive Gateway's inboundInflightRequestDeduplication
    router: bool = False  # Hive Gateway with @graphql-hive/router-runtime
    jit: bool = False  # Hive Gateway's --jit


@dataclass(slots=True)
class Measurement:
    """One timed wrk run against one target and query, every answer checked."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    # CPU time (user + sys, all threads, /proc) the server spent per answered request.
    cpu_ms_per_request: float
    # The share of one core the server process got while wrk ran (1.0: all of it).
    core_share: float
    subgraph_requests: dict[str, int] = field(default_factory=dict)
    # Subgraph requests whose body was new to the memo (executed by the origin).
    subgraph_misses: dict[str, int] = field(default_factory=dict)
    # Each subgraph's CPU (its Node front and its Python origin) over the run, as a
    # share of one core: the subgraphs and wrk share core 1.
    subgraph_cpu_share: dict[str, float] = field(default_factory=dict)
    wrk_cpu_share: float = 0.0
    core1_busy: float = 0.0
    background: float = 0.0
    others_cpu_s: float = 0.0
    elapsed_s: float = 0.0

    def subgraph_requests_per_request(self) -> float:
        return sum(self.subgraph_requests.values()) / max(self.requests, 1)


@dataclass(slots=True)
class Result:
    """The samples of one target and query; ``failure`` says why it has no figures."""

    target: str
    query: str
    samples: list[Measurement] = field(default_factory=list)
    discarded: list[Measurement] = field(default_factory=list)
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and bool(self.samples)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)

    def subgraph_requests_per_request(self) -> float:
        sent = sum(sum(s.subgraph_requests.values()) for s in self.samples)
        answered = sum(s.requests for s in self.samples)
        return sent / answered if answered else 0.0

    def misses(self) -> int:
        return sum(sum(s.subgraph_misses.values()) for s in self.samples)

    def subgraph_share(self) -> dict[str, float]:
        """Each subgraph's median CPU share of core 1 over the samples."""
        names = sorted({n for s in self.samples for n in s.subgraph_cpu_share})
        return {
            n: statistics.median(s.subgraph_cpu_share.get(n, 0.0) for s in self.samples)
            for n in names
        }


Results = dict[tuple[str, str], Result]


# ------------------------------------------------------------------------ bars


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of the issue: ``value`` (ours) against ``limit``; ``passed`` or not."""

    what: str
    value: float
    limit: float
    passed: bool
    unit: str = "x"


def _get(results: Results, target: str, query: str) -> Result | None:
    result = results.get((target, query))
    return result if result is not None and result.ok else None


def bars(results: Results, peak_kib: dict[str, int]) -> list[Bar]:
    """The bars of the performance issue that this run's figures can decide."""
    out: list[Bar] = []

    def rps_ratio(ours: str, peer: str, query: str, at_least: float, what: str) -> None:
        a, b = _get(results, ours, query), _get(results, peer, query)
        if a is None or b is None or b.median("rps") <= 0:
            return
        value = a.median("rps") / b.median("rps")
        out.append(Bar(what, round(value, 3), at_least, value >= at_least))

    rps_ratio("ours", "grafbase", "heavy", 1.0, "heavy RPS, ours default / Grafbase")
    rps_ratio(
        "ours",
        "hive-router-bench",
        "heavy",
        1.0,
        "heavy RPS, ours default / Hive + Rust planner, inbound dedup",
    )
    rps_ratio(
        "ours-nodedup", "proxy", "light", 0.85, "light RPS, ours dedup off / proxy"
    )
    for query in ("light", "join"):
        rps_ratio(
            "ours", "grafbase", query, 1.0, f"{query} RPS, ours default / Grafbase"
        )
    for query in QUERY_NAMES:
        a, b = _get(results, "ours", query), _get(results, "grafbase", query)
        if a is not None and b is not None:
            value = a.median("p99_ms")
            limit = b.median("p99_ms")
            out.append(
                Bar(
                    f"{query} p99, ours default <= Grafbase",
                    value,
                    limit,
                    value <= limit,
                    " ms",
                )
            )
    heavy = _get(results, "ours-nodedup", "heavy")
    if heavy is not None:
        cpu = heavy.median("cpu_ms_per_request")
        out.append(
            Bar("heavy CPU per request, ours dedup off", cpu, 0.9, cpu <= 0.9, " ms")
        )
    for name in ("ours", "ours-nodedup"):
        if name in peak_kib and any(
            _get(results, name, q) is not None for q in QUERY_NAMES
        ):
            mb = peak_kib[name] / 1024
            out.append(Bar(f"peak RSS, {name}", round(mb, 1), 100.0, mb < 100, " MB"))
    return out


# --------------------------------------------------------------------- tables


def _fmt_rps(result: Result | None) -> str:
    if result is None:
        return "-"
    if result.failure is not None:
        return "FAILED"
    return f"{result.median('rps'):,.0f}".replace(",", " ") if result.samples else "-"


def _cell_note(result: Result) -> str:
    notes = []
    if result.failure is not None:
        notes.append(f"FAILED: {result.failure}")
    if result.misses():
        notes.append(f"{result.misses()} subgraph memo misses while timing")
    kept = sum(
        1
        for s in result.samples
        if contended(s.others_cpu_s, s.elapsed_s, LATENCY_CONTENDED)
    )
    if kept:
        notes.append(f"{kept} contended sample(s) kept")
    if result.samples and result.median("core1_busy") >= SATURATED:
        notes.append(
            f"core 1 {result.median('core1_busy'):.0%} busy: "
            "the load side may have limited this figure"
        )
    return "; ".join(notes)


def _detail_rows(
    targets: Sequence[Target], results: Results, peak_kib: dict[str, int], group: str
) -> list[str]:
    out = [
        "| gateway (config) | query | RPS | p50 ms | p99 ms | CPU ms/request "
        "| peak RSS MB | subgraph requests/request | note |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for target in targets:
        if target.group != group:
            continue
        for query in target.queries:
            result = results.get((target.name, query))
            if result is None:
                continue
            rss = peak_kib.get(target.name, 0) / 1024
            if not result.ok:
                out.append(
                    f"| {target.label} | {query} | FAILED | - | - | - | - | - "
                    f"| {_cell_note(result) or 'FAILED: no sample'} |"
                )
                continue
            out.append(
                f"| {target.label} | {query} | {result.median('rps'):.0f} "
                f"| {result.median('p50_ms'):.2f} | {result.median('p99_ms'):.2f} "
                f"| {result.median('cpu_ms_per_request'):.3f} | {rss:.0f} "
                f"| {result.subgraph_requests_per_request():.2f} "
                f"| {_cell_note(result)} |"
            )
    return out


def markdown_report(
    targets: Sequence[Target],
    results: Results,
    peak_kib: dict[str, int],
    header: dict[str, Any],
) -> str:
    """The generated part of docs/performance.md (and bench-results/peers.md)."""
    queries = [q for q in QUERY_NAMES if any(q in t.queries for t in targets)]
    versions = ", ".join(f"{k} {v}" for k, v in header["versions"].items())
    settings = header["settings"]
    out = [
        f"Run of {header['date']} on {header['machine']}, "
        f"{header['duration_s']:.0f} s. {header.get('caveat', '')}".rstrip(),
        "",
        f"Versions: {versions}.",
        "",
        f"Settings: each gateway pinned to core 0; wrk (1 thread, "
        f"{settings['connections']} connections) and the subgraphs on core 1; "
        f"{settings['warmup']} s warm-up, then {settings['rounds']} interleaved rounds "
        f"of {settings['seconds']} s per gateway and query; medians of the rounds. "
        "Every answer is compared with `bench.guild.expected_answer` before timing and "
        "byte for byte while timing.",
        "",
        "| gateway (config) | "
        + " | ".join(f"{q} RPS" for q in queries)
        + " | "
        + " | ".join(f"{q} CPU ms/req" for q in queries)
        + " | peak RSS MB |",
        "|---|" + "--:|" * (2 * len(queries) + 1),
    ]
    for target in targets:
        cells = [_fmt_rps(results.get((target.name, q))) for q in queries]
        cpu = []
        for q in queries:
            result = results.get((target.name, q))
            cpu.append(
                f"{result.median('cpu_ms_per_request'):.3f}"
                if result is not None and result.ok
                else "-"
            )
        rss = peak_kib.get(target.name, 0) / 1024
        out.append(
            f"| {target.label} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(cpu)
            + f" | {rss:.0f} |"
        )
    out += [
        "",
        "Like for like: no deduplication of any kind (every gateway sends one subgraph "
        "request per fetch, and executes every client request).",
        "",
        *_detail_rows(targets, results, peak_kib, "like"),
        "",
        "With deduplication: identical concurrent requests share subgraph requests "
        "(ours, Hive Gateway's default) or whole executions (ours, Hive Gateway's "
        "`inboundInflightRequestDeduplication`). wrk sends one query over and over, so "
        "these rows measure the deduplication as much as the gateway.",
        "",
        *_detail_rows(targets, results, peak_kib, "dedup"),
        "",
        "The configurations:",
        "",
    ]
    out += [f"- **{t.label}**: {t.settings}" for t in targets]
    shares = _subgraph_load(targets, results)
    if shares:
        out += [
            "",
            "Load on core 1 (the subgraphs are not the bottleneck while it has room): "
            "CPU share of one core, median of the rounds, of each subgraph (Node front "
            "+ Python origin) and of wrk, and how busy core 1 was (other processes on "
            "the machine included), for the Grafbase light cells and the fastest cell "
            "of each query:",
            "",
            *shares,
        ]
    decided = bars(results, peak_kib)
    if decided:
        out += [
            "",
            "The bars of the performance issue, as this run decides them:",
            "",
            "| bar | ours | limit | |",
            "|---|--:|--:|---|",
        ]
        for bar in decided:
            unit = "x" if bar.unit == "x" else bar.unit.strip()
            out.append(
                f"| {bar.what} | {bar.value:.3g} {unit} | {bar.limit:.3g} {unit} "
                f"| {'pass' if bar.passed else 'MISS'} |"
            )
    return "\n".join(out) + "\n"


def _subgraph_load(targets: Sequence[Target], results: Results) -> list[str]:
    """Rows for the Grafbase light cells and the fastest cell of each query: each
    subgraph's CPU share, wrk's, and how busy core 1 was."""
    cells: list[Result] = []
    for name in ("grafbase", "grafbase-nodedup"):
        result = _get(results, name, "light")
        if result is not None:
            cells.append(result)
    for query in QUERY_NAMES:
        best = max(
            (
                r
                for t in targets
                if (r := results.get((t.name, query))) is not None and r.ok
            ),
            key=lambda r: r.median("rps"),
            default=None,
        )
        if best is not None and all(best is not c for c in cells):
            cells.append(best)
    labels = {t.name: t.label for t in targets}
    out: list[str] = []
    for cell in cells:
        parts = ", ".join(f"{n} {v:.0%}" for n, v in cell.subgraph_share().items())
        out.append(
            f"- {cell.query}, {labels[cell.target]} at {cell.median('rps'):.0f} RPS: "
            f"{parts}; wrk {cell.median('wrk_cpu_share'):.0%}; core 1 busy "
            f"{cell.median('core1_busy'):.0%}"
        )
    return out


def console_table(
    targets: Sequence[Target], results: Results, peak_kib: dict[str, int]
) -> str:
    lines = [
        f"{'gateway':44}{'query':7}{'RPS':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>12}{'RSS MB':>8}{'sg req/req':>11}  note"
    ]
    for target in targets:
        for query in target.queries:
            result = results.get((target.name, query))
            if result is None:
                continue
            if not result.ok:
                lines.append(f"{target.label[:43]:44}{query:7}  {_cell_note(result)}")
                continue
            lines.append(
                f"{target.label[:43]:44}{query:7}{result.median('rps'):9.0f}"
                f"{result.median('p50_ms'):9.2f}{result.median('p99_ms'):9.2f}"
                f"{result.median('cpu_ms_per_request'):12.3f}"
                f"{peak_kib.get(target.name, 0) / 1024:8.0f}"
                f"{result.subgraph_requests_per_request():11.2f}  {_cell_note(result)}"
            )
    return "\n".join(lines)


def splice(document: str, block: str) -> str:
    """``document`` with the text between ``BEGIN`` and ``END`` replaced by ``block``
    (the markers are appended at the end when the document has none)."""
    start = document.find(BEGIN)
    end = document.find(END)
    if start == -1 or end == -1 or end < start:
        if (start == -1) != (end == -1) or end < start:
            raise ValueError("docs/performance.md has a broken pair of bench markers")
        return document.rstrip("\n") + f"\n\n{BEGIN}\n{block.rstrip()}\n{END}\n"
    return document[: start + len(BEGIN)] + f"\n{block.rstrip()}\n" + document[end:]


# ---------------------------------------------------------------------- chart


def write_chart(
    path: Path,
    targets: Sequence[Target],
    results: Results,
    peak_kib: dict[str, int],
) -> bool:
    """RPS, CPU per request and p99 per query (one panel each), and peak RSS."""
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

    queries = [q for q in QUERY_NAMES if any(q in t.queries for t in targets)]
    metrics = [
        ("requests/s (higher is better)", "rps", "%.0f"),
        ("gateway CPU ms/request (lower is better)", "cpu_ms_per_request", "%.2f"),
        ("p99 ms (lower is better)", "p99_ms", "%.1f"),
    ]
    labels = [t.label for t in targets]
    colours = [f"C{i % 10}" for i in range(len(targets))]
    fig, axes = plt.subplots(
        len(metrics),
        len(queries) + 1,
        figsize=(6 * (len(queries) + 1), 4.2 * len(metrics)),
        squeeze=False,
    )
    for row, (title, attr, fmt) in enumerate(metrics):
        for col, query in enumerate(queries):
            ax = axes[row][col]
            values = []
            for target in targets:
                result = results.get((target.name, query))
                values.append(
                    result.median(attr) if result is not None and result.ok else 0.0
                )
            bars_ = ax.barh(range(len(targets)), values, color=colours)
            ax.bar_label(bars_, fmt=fmt, fontsize=7)
            for i, target in enumerate(targets):
                result = results.get((target.name, query))
                if result is not None and not result.ok:
                    ax.text(0, i, " FAILED", va="center", fontsize=7, color="red")
            ax.set_yticks(range(len(targets)))
            ax.set_yticklabels(labels if col == 0 else [""] * len(targets), fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{query}: {title}", fontsize=9)
        axes[row][len(queries)].axis("off")
    ax = axes[0][len(queries)]
    ax.axis("on")
    bars_ = ax.barh(
        range(len(targets)),
        [peak_kib.get(t.name, 0) / 1024 for t in targets],
        color=colours,
    )
    ax.bar_label(bars_, fmt="%.0f", fontsize=7)
    ax.set_yticks(range(len(targets)))
    ax.set_yticklabels([""] * len(targets))
    ax.invert_yaxis()
    ax.set_title("peak RSS MB (lower is better)", fontsize=9)
    fig.suptitle(
        "The Guild's scenario: each gateway pinned to one core, same subgraphs, "
        "same load, answers checked; median of rounds"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
