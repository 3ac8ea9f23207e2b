"""The pure parts of ``bench/sse.py``'s Hive Gateway comparison."""

from __future__ import annotations

import argparse
import asyncio
import os

import pytest

from bench.sse import (
    ErrorFrame,
    FanoutSample,
    IdleSample,
    _Subscriber,
    count_ratio,
    counts,
    fd_ceiling,
    fmt_ratio,
    peer_markdown,
    peer_summary,
    process_seconds_on,
)


def _burst(
    *, elapsed: float = 2.0, gateway_cpu: float = 1.0, others: float = 0.0
) -> FanoutSample:
    return FanoutSample(
        deliveries=200_000,
        elapsed_s=elapsed,
        gateway_cpu_s=gateway_cpu,
        subgraph_cpu_s=0.1,
        cpu0_busy=1.0,
        others_cpu_s=others,
        background=0.0,
    )


def test_fanout_rate_and_cpu_per_delivery_come_from_the_burst() -> None:
    sample = _burst(elapsed=4.0, gateway_cpu=2.0)
    assert sample.deliveries_per_s == 50_000
    assert sample.gateway_cpu_us_per_delivery == pytest.approx(10.0)
    assert sample.core_share == pytest.approx(0.5)


def test_a_burst_during_which_others_ran_on_the_gateway_core_is_contended() -> None:
    assert _burst(elapsed=2.0, others=0.5).contended()


def test_a_saturated_core_with_a_low_gateway_share_alone_is_not_contended() -> None:
    # Loopback TCP work shows as softirq time: busy, but charged to no process.
    assert not _burst(elapsed=2.0, gateway_cpu=1.0, others=0.1).contended()


def test_process_seconds_on_a_core_count_user_nice_and_system_only() -> None:
    stat = (
        "cpu  9 9 9 9 9 9 9 0 0 0\n"
        "cpu0 100 20 30 400 5 6 700 0 0 0\n"
        "cpu1 1 1 1 1 1 1 1 0 0 0\n"
    )
    ticks = os.sysconf("SC_CLK_TCK")
    assert process_seconds_on("cpu0", stat) == pytest.approx(150 / ticks)
    assert process_seconds_on("cpu7", stat) == 0.0


def test_a_zero_length_burst_has_no_rate_instead_of_dividing_by_zero() -> None:
    sample = _burst(elapsed=0.0)
    assert sample.deliveries_per_s == 0.0
    assert sample.core_share == 0.0


@pytest.mark.parametrize(
    ("ours", "peer", "expected"),
    [(5.0, 50.0, 0.1), (30_000.0, 3_000.0, 10.0), (1.0, 0.0, None), (1.0, -2.0, None)],
)
def test_count_ratio_is_ours_over_the_peer_and_none_without_a_positive_peer(
    ours: float, peer: float, expected: float | None
) -> None:
    assert count_ratio(ours, peer) == (
        None if expected is None else pytest.approx(expected)
    )


def test_a_negative_rss_growth_of_ours_gives_no_ratio() -> None:
    assert count_ratio(-0.5, 40.0) is None
    assert fmt_ratio(None) == "n/a"
    assert fmt_ratio(0.125) == "0.12x"


def test_idle_counts_parse_and_refuse_bad_input_with_an_argparse_error() -> None:
    assert counts("1000,9000") == [1000, 9000]
    assert counts("500") == [500]
    for bad in ("", "0", "10,-1", "ten"):
        with pytest.raises(argparse.ArgumentTypeError):
            counts(bad)


def test_fd_ceiling_leaves_two_sockets_per_subscription_and_a_margin() -> None:
    assert fd_ceiling(20_000) == 9_872
    assert fd_ceiling(100) == 0
    assert fd_ceiling(-1) > 1_000_000  # RLIM_INFINITY


def _results() -> dict[str, object]:
    return {
        "idle": {
            "1000 distinct": {
                "ours": IdleSample(12.0, upstream=10),
                "hive": IdleSample(48.0),
            },
            "1000 shared": {
                "ours": IdleSample(3.0, upstream=1),
                "hive": IdleSample(0.0, error="RuntimeError: refused\nlog line"),
            },
        },
        "fanout": {
            "ours": [_burst(elapsed=4.0), _burst(elapsed=2.0), _burst(elapsed=5.0)],
            "hive": [_burst(elapsed=40.0, gateway_cpu=30.0)] * 3,
        },
    }


def test_summary_takes_medians_and_divides_ours_by_hive() -> None:
    summary = peer_summary(_results())
    assert summary["fanout"]["ours"]["deliveries_per_s"] == 50_000  # median of 3
    assert summary["fanout"]["hive"]["deliveries_per_s"] == 5_000
    assert summary["ratios"]["fanout_deliveries_per_s"] == pytest.approx(10.0)
    assert summary["ratios"]["fanout_cpu_per_delivery"] == pytest.approx(5 / 150)
    rows = {row["case"]: row for row in summary["idle"]}
    assert rows["1000 distinct"]["ratio"] == pytest.approx(0.25)
    assert rows["1000 shared"]["ratio"] is None  # Hive's cell failed


def test_markdown_shows_a_failed_cell_with_its_error_and_no_ratio() -> None:
    text = peer_markdown(peer_summary(_results()))
    assert "| 1000 distinct | 12.0 | 48.0 | 0.25x | -, - |" in text
    assert "| 1000 shared | 3.0 | failed: RuntimeError: refused | n/a | 1, - |" in text
    assert "fan-out deliveries/s 10.00x" in text


class _Chunks:
    """A stream reader that hands out fixed chunks, then EOF."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def read(self, _: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def _subscriber(chunks: list[bytes]) -> _Subscriber:
    return _Subscriber(_Chunks(chunks), None)  # type: ignore[arg-type]


def test_events_split_across_reads_are_counted_once_each() -> None:
    # Hive Gateway writes "event: next\n" and the data line as separate chunks, and
    # starts with a ":" comment; a read may end in the middle of the field name.
    frame = b'event: next\ndata: {"data":{"messages":{"seq":1}}}\n\n'
    stream = b":\n\n" + frame * 3
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    asyncio.run(_subscriber(list(chunks)).count_events(3))
    with pytest.raises(EOFError):  # a fourth would be a double count
        asyncio.run(_subscriber(list(chunks)).count_events(4))


def test_a_stream_that_ends_before_every_event_is_an_error() -> None:
    frame = b"event: next\ndata: {}\n\n"
    with pytest.raises(EOFError):
        asyncio.run(_subscriber([frame, frame]).count_events(3))


def test_an_error_event_in_a_fanout_is_not_counted_as_a_delivery() -> None:
    good = b'event: next\ndata: {"data":{"messages":{"seq":1}}}\n\n'
    bad = b'event: next\ndata: {"errors":[{"message":"upstream gone"}]}\n\n'
    with pytest.raises(ErrorFrame):
        asyncio.run(_subscriber([good, bad, good]).count_events(3))
