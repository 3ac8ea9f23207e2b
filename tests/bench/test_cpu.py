"""bench.cpu: reading what callgrind dumped for ``scripts/bench --guild --instructions``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import RunFailed
from bench.cpu import callgrind_argv, dumped_instructions


def _dump(path: Path, total: int) -> None:
    path.write_text(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n"
        "events: Ir\nfl=(1) x.c\nfn=(1) f\n3 7\n"
        f"summary: {total}\n\ntotals: {total}\n"
    )


def test_the_count_is_that_of_the_dump_written_since(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    _dump(tmp_path / "callgrind.out.1", 111)
    before = set(tmp_path.glob("callgrind.out*"))
    _dump(tmp_path / "callgrind.out.2", 2_500_000)
    assert dumped_instructions(out, before) == 2_500_000


def test_no_new_dump_fails_the_run(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    _dump(tmp_path / "callgrind.out.1", 111)
    with pytest.raises(RunFailed):
        dumped_instructions(out, set(tmp_path.glob("callgrind.out*")))


def test_nothing_is_counted_before_it_is_switched_on(tmp_path: Path) -> None:
    argv = callgrind_argv(tmp_path / "c.out")
    assert argv[:2] == ["valgrind", "--tool=callgrind"]
    assert "--instr-atstart=no" in argv
    assert f"--callgrind-out-file={tmp_path / 'c.out'}" in argv
