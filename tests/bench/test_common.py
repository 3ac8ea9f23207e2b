"""bench.common: a timed run with bad answers is a failed run, never a figure."""

from __future__ import annotations

import pytest

from bench.common import (
    CONTENDED,
    LATENCY_CONTENDED,
    WRK_CHECK,
    RunFailed,
    contended,
    parse_wrk,
    require_clean,
)

WRK_OUT = """\
Running 5s test @ http://127.0.0.1:4000/graphql
  1 threads and 32 connections
  Latency Distribution
     50%  1.20ms
     99%    5.00ms
  50000 requests in 5.00s, 10.00MB read
{extra}Requests/sec:  10000.00
Transfer/sec:      2.00MB
{check}"""


def _out(
    extra: str = "", check: str = "Checked responses: 0 non-200, 0 with errors"
) -> str:
    return WRK_OUT.format(extra=extra, check=check)


def test_a_clean_run_gives_its_figures() -> None:
    sample = parse_wrk(_out())
    assert (sample.rps, sample.p50_ms, sample.p99_ms) == (10000.0, 1.2, 5.0)
    assert not sample.failed
    assert require_clean(sample, "run") is sample


def test_answers_with_errors_fail_the_run() -> None:
    sample = parse_wrk(_out(check="Checked responses: 0 non-200, 12 with errors"))
    assert sample.failed and sample.error_bodies == 12 and sample.errors == 12
    with pytest.raises(RunFailed, match='12 answers with "errors"'):
        require_clean(sample, "gateway single")


def test_non_200_answers_and_socket_errors_fail_the_run() -> None:
    sample = parse_wrk(
        _out(
            extra="  Socket errors: connect 0, read 2, write 0, timeout 1\n"
            "  Non-2xx or 3xx responses: 7\n",
            check="Checked responses: 7 non-200, 0 with errors",
        )
    )
    assert sample.errors == 10  # wrk's own Non-2xx line is not counted twice
    with pytest.raises(RunFailed, match=r"7 non-200 answers.*3 socket errors"):
        require_clean(sample, "proxy single")


def test_a_run_whose_check_did_not_report_is_failed() -> None:
    sample = parse_wrk(_out(check=""))
    assert sample.failed
    with pytest.raises(RunFailed, match="did not report"):
        require_clean(sample, "run")


def test_the_wrk_script_checks_every_response_while_timing() -> None:
    assert "function response(status, headers, body)" in WRK_CHECK
    assert "status ~= 200" in WRK_CHECK and '"errors"' in WRK_CHECK
    assert "Checked responses: %d non-200, %d with errors" in WRK_CHECK


def test_one_definition_of_a_contended_sample() -> None:
    assert contended(others_cpu_s=CONTENDED * 2.0 + 0.01, elapsed_s=2.0)
    assert not contended(others_cpu_s=CONTENDED * 2.0 - 0.01, elapsed_s=2.0)
    assert not contended(others_cpu_s=1.0, elapsed_s=0.0)


def test_a_latency_sample_is_contended_at_a_far_smaller_share() -> None:
    # 0.13 s of others in a 5 s sample: fine for a throughput figure, not for a p99.
    assert not contended(others_cpu_s=0.13, elapsed_s=5.0)
    assert contended(others_cpu_s=0.13, elapsed_s=5.0, limit=LATENCY_CONTENDED)
    assert not contended(others_cpu_s=0.05, elapsed_s=5.0, limit=LATENCY_CONTENDED)
