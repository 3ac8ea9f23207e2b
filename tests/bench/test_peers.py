"""The parts of ``scripts/bench --peers`` that run without a peer gateway: the answer
check, the wrk check of exact bytes, target selection, the tables and the doc splice."""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.common import RunFailed, parse_wrk, require_clean, wrk_argv
from bench.guild import HEAVY, JOIN, LIGHT, expected_answer
from bench.peers import TARGETS, _parser, check_answer, plan_cells, require_subgraphs
from bench.peers_report import (
    BEGIN,
    END,
    Measurement,
    Result,
    bars,
    markdown_report,
    splice,
)
from tests.helpers.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ answer check


@pytest.mark.parametrize("query", [LIGHT, JOIN, HEAVY], ids=["light", "join", "heavy"])
def test_the_expected_answer_passes_the_check(query: str) -> None:
    answer = expected_answer(query)
    check_answer(orjson.dumps(answer), answer, "ours, light")


def test_light_is_the_issue_query() -> None:
    assert LIGHT == "{ topProducts { name price } }"


def test_a_wrong_value_fails_the_check_and_names_the_difference() -> None:
    answer = expected_answer(LIGHT)
    wrong = json.loads(json.dumps(answer))
    wrong["data"]["topProducts"][2]["price"] = 16
    with pytest.raises(RunFailed, match=r"Grafbase, light: wrong answer.*16"):
        check_answer(json.dumps(wrong).encode(), answer, "Grafbase, light")


def test_fields_in_another_order_fail_the_check() -> None:
    answer = expected_answer(LIGHT)
    swapped = {
        "data": {
            "topProducts": [
                {"price": p["price"], "name": p["name"]}
                for p in answer["data"]["topProducts"]
            ]
        }
    }
    with pytest.raises(RunFailed, match="wrong answer"):
        check_answer(json.dumps(swapped).encode(), answer, "peer, light")


def test_an_answer_with_errors_beside_the_right_data_fails_the_check() -> None:
    answer = expected_answer(JOIN)
    with_errors = {**answer, "errors": [{"message": "subgraph reviews timed out"}]}
    with pytest.raises(RunFailed):
        check_answer(json.dumps(with_errors).encode(), answer, "peer, join")


def test_a_truncated_heavy_answer_fails_the_check() -> None:
    answer = expected_answer(HEAVY)
    body = orjson.dumps(answer)
    with pytest.raises(RunFailed, match="not JSON"):
        check_answer(body[: len(body) // 2], answer, "peer, heavy")


# ----------------------------------------------------------- the check while timing


def test_wrk_compares_every_answer_with_the_checked_bytes(tmp_path: Path) -> None:
    expected = tmp_path / "expected.json"
    expected.write_bytes(b'{"data":{}}')
    argv = wrk_argv(
        "http://127.0.0.1:1/graphql",
        LIGHT,
        seconds=1,
        connections=50,
        workdir=tmp_path,
        expected=expected,
    )
    script = Path(argv[argv.index("-s") + 1]).read_text()
    assert json.dumps(str(expected)) in script
    assert "body ~= expected" in script
    assert "-c50" in argv


def test_wrong_answers_while_timing_fail_the_run() -> None:
    out = (
        "  50%  1.00ms\n  99%  2.00ms\n  1000 requests in 1.00s, 1MB read\n"
        "Requests/sec:  1000.00\n"
        "Checked responses: 0 non-200, 0 with errors, 3 wrong\n"
    )
    sample = parse_wrk(out)
    assert sample.wrong_bodies == 3 and sample.errors == 3 and sample.failed
    with pytest.raises(RunFailed, match="3 wrong answers"):
        require_clean(sample, "Grafbase, heavy")


# ------------------------------------------------------------------- selection


def test_like_for_like_targets_come_before_the_deduplicating_ones() -> None:
    groups = [t.group for t in TARGETS]
    assert groups == sorted(groups, key=["like", "dedup"].index)
    assert {t.name for t in TARGETS} >= {
        "ours",
        "ours-nodedup",
        "grafbase",
        "hive-default",
        "hive-bench",
        "hive-router-default",
        "hive-router-bench",
        "apollo",
        "proxy",
    }


def test_selecting_only_heavy_drops_the_proxy_and_keeps_the_order() -> None:
    args = _parser().parse_args(["--queries", "heavy"])
    cells = plan_cells([t for t in TARGETS if t.name in args.targets], args.queries)
    assert "proxy" not in [t.name for t in cells]
    assert all(t.queries == ("heavy",) for t in cells)
    assert [t.name for t in cells] == [t.name for t in TARGETS if t.name != "proxy"]


def test_an_unknown_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--targets", "ours,cosmo"])
    assert "unknown targets: cosmo" in capsys.readouterr().err


# --------------------------------------------------------------------- tables


def _sample(rps: float, cpu: float = 0.1, p99: float = 5.0) -> Measurement:
    return Measurement(
        rps=rps,
        p50_ms=1.0,
        p99_ms=p99,
        requests=int(rps * 5),
        cpu_ms_per_request=cpu,
        core_share=0.95,
        subgraph_requests={"products": int(rps * 5)},
        subgraph_misses={"products": 0},
        subgraph_cpu_share={"products": 0.2},
        wrk_cpu_share=0.3,
        core1_busy=0.6,
        elapsed_s=5.0,
    )


def _results() -> dict[tuple[str, str], Result]:
    results = {
        ("ours-nodedup", "light"): Result(
            "ours-nodedup", "light", [_sample(7000), _sample(7600), _sample(7500)]
        ),
        ("proxy", "light"): Result("proxy", "light", [_sample(10000)]),
        ("grafbase", "light"): Result("grafbase", "light", [_sample(30000, p99=4.0)]),
        ("ours", "light"): Result("ours", "light", [_sample(20000, p99=6.0)]),
        ("ours", "heavy"): Result("ours", "heavy", [_sample(450, cpu=2.2)]),
        ("grafbase", "heavy"): Result(
            "grafbase", "heavy", failure="round 2 of Grafbase, heavy: 4 wrong answers"
        ),
    }
    return results


def _header() -> dict[str, Any]:
    return {
        "date": "2026-11-29 12:00 UTC",
        "machine": "2 cores (test)",
        "duration_s": 600.0,
        "versions": {"node": "v20", "grafbase CLI": "0.103.0"},
        "settings": {"seconds": 5, "rounds": 3, "connections": 50, "warmup": 2},
        "caveat": "Shared machine: indicative only.",
    }


def test_the_report_leads_with_like_for_like_and_shows_a_failed_cell() -> None:
    targets = [
        t for t in TARGETS if t.name in {"ours-nodedup", "proxy", "grafbase", "ours"}
    ]
    text = markdown_report(
        targets, _results(), {"ours": 60_000, "grafbase": 50_000}, _header()
    )
    assert "2026-11-29 12:00 UTC" in text and "Shared machine" in text
    assert "grafbase CLI 0.103.0" in text
    like = text.index("| ours, dedup off | light | 7500 |")  # median of the rounds
    dedup = text.index("| ours, default (all dedup on) | light | 20000 |")
    assert like < dedup
    assert "| Grafbase, default config | heavy | FAILED |" in text
    assert "4 wrong answers" in text
    assert "| Grafbase, default config | 30 000 | - | FAILED |" in text


def test_the_bars_divide_ours_by_the_peer_and_skip_a_failed_peer() -> None:
    decided = {b.what: b for b in bars(_results(), {"ours": 60_000})}
    light = decided["light RPS, ours default / Grafbase"]
    assert light.value == pytest.approx(20000 / 30000, abs=1e-3) and not light.passed
    proxy = decided["light RPS, ours dedup off / proxy"]
    assert proxy.value == 0.75 and not proxy.passed
    assert decided["light p99, ours default <= Grafbase"].passed is False
    assert decided["peak RSS, ours"].passed  # 58.6 MB < 100 MB
    assert not any("heavy RPS" in what for what in decided)  # Grafbase heavy failed


def test_splice_replaces_only_the_generated_part() -> None:
    page = f"# Performance\n\nhand-written\n\n{BEGIN}\nold table\n{END}\n\n## Later\n"
    new = splice(page, "new table\n")
    assert (
        new
        == f"# Performance\n\nhand-written\n\n{BEGIN}\nnew table\n{END}\n\n## Later\n"
    )
    assert splice(new, "new table\n") == new


def test_splice_appends_the_markers_to_a_page_without_them() -> None:
    assert splice("# P\n", "t") == f"# P\n\n{BEGIN}\nt\n{END}\n"


def test_splice_refuses_a_page_with_one_marker() -> None:
    with pytest.raises(ValueError, match="broken"):
        splice(f"# P\n{BEGIN}\nt\n", "x")


def test_the_performance_page_has_one_pair_of_markers() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    assert page.count(BEGIN) == 1 and page.count(END) == 1
    assert page.index(BEGIN) < page.index(END)


# --------------------------------------------------------- the Node subgraph front


def _exchange(port: int, data: bytes, answers: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < answers or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def _complete(data: bytes) -> bool:
    last = data.rfind(b"HTTP/1.1 ")
    head_end = data.find(b"\r\n\r\n", last)
    if head_end == -1:
        return False
    length = int(data[last:head_end].split(b"content-length: ")[1].split(b"\r\n")[0])
    return len(data) >= head_end + 4 + length


@pytest.fixture
def front(tmp_path: Path) -> Any:
    """The products subgraph: the Python origin and its Node front."""
    if shutil.which("node") is None:
        pytest.fail(
            "node is not installed: scripts/test installs it with the Node tests"
        )
    origin, port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.peers",
                "origin",
                "products",
                "--port",
                str(origin),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "origin.log").open("wb"),
        ),
        subprocess.Popen(
            [
                "node",
                str(ROOT / "bench" / "peers" / "guild-subgraph.mjs"),
                "products",
                str(port),
                f"http://127.0.0.1:{origin}/graphql",
            ],
            stdout=(tmp_path / "front.log").open("wb"),
            stderr=subprocess.PIPE,
        ),
    ]
    try:
        # Each says it listens in one line (the origin on stdout, the front on
        # stderr); nothing else is written to those pipes.
        _wait_for_line(procs[0], procs[0].stdout, f"127.0.0.1:{origin}")
        _wait_for_line(procs[1], procs[1].stderr, f"127.0.0.1:{port}")
        yield port
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_for_line(proc: subprocess.Popen[bytes], pipe: Any, text: str) -> None:
    """Until ``proc`` writes a line holding ``text`` to ``pipe`` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        ready, _, _ = select.select([pipe], [], [], deadline - time.monotonic())
        line = pipe.readline() if ready else b""
        if text.encode() in line:
            return
        if not ready or not line:
            raise AssertionError(
                f"{proc.args[:3]} did not say it listens (exit code {proc.poll()})"
            )


def _post(body: bytes, *, chunked: bool = False) -> bytes:
    if chunked:
        half = len(body) // 2
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:])
        )
        return (
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + payload
            + b"0\r\n\r\n"
        )
    return b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


def test_the_front_answers_pipelined_requests_in_order_from_its_origin(
    front: int,
) -> None:
    light = json.dumps({"query": LIGHT}).encode()
    first = json.dumps({"query": "{ topProducts(first: 1) { upc } }"}).encode()
    received = _exchange(
        front,
        _post(first)
        + _post(light, chunked=True)
        + _post(light)
        + b"GET /count HTTP/1.1\r\nHost: t\r\n\r\n",
        4,
    )
    bodies = [
        part.split(b"\r\n\r\n", 1)[1] for part in received.split(b"HTTP/1.1 200 OK")[1:]
    ]
    assert orjson.loads(bodies[0]) == {"data": {"topProducts": [{"upc": "1"}]}}
    assert orjson.loads(bodies[1]) == expected_answer(LIGHT)
    assert bodies[2] == bodies[1]
    # Three requests, two distinct bodies: the origin executed two.
    assert orjson.loads(bodies[3]) == {"requests": 3, "misses": 2}


def test_the_front_refuses_a_bad_request_with_a_400(front: int) -> None:
    received = _exchange(
        front, b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Length: -4\r\n\r\n", 1
    )
    assert received.startswith(b"HTTP/1.1 400 Bad Request")


def test_a_subgraph_process_that_exited_stops_the_run(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(SystemExit, match=r"origin-products .* exited with code 0"):
        require_subgraphs({"ours": gone, "origin-products": gone}, tmp_path)
    alive = subprocess.Popen(["sleep", "30"])
    try:
        require_subgraphs({"subgraph-products": alive}, tmp_path)
    finally:
        alive.kill()
        alive.wait()


def test_the_first_bad_answer_while_timing_is_quoted_in_the_failure() -> None:
    out = (
        "  50%  1.00ms\n  99%  2.00ms\n  10 requests in 1.00s, 1MB read\n"
        "Requests/sec:  10.00\n"
        'First bad answer: 200 {"data":null,"errors":[{"message":"fetch failed"}]}\n'
        "Checked responses: 0 non-200, 1 with errors, 0 wrong\n"
    )
    with pytest.raises(RunFailed, match=r'1 answers with "errors".*fetch failed'):
        require_clean(parse_wrk(out), "Hive Gateway, heavy")


def test_the_chart_is_a_png_or_absent_without_matplotlib(tmp_path: Path) -> None:
    import importlib.util

    from bench.peers_report import write_chart

    targets = [
        t for t in TARGETS if t.name in {"ours-nodedup", "proxy", "grafbase", "ours"}
    ]
    chart = tmp_path / "peers.png"
    written = write_chart(chart, targets, _results(), {"ours": 60_000})
    if importlib.util.find_spec("matplotlib") is None:
        assert not written and not chart.exists()
    else:
        assert written and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
