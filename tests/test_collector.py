"""gateway.collector: the server's collector settings, and the freeze after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_sets_the_server_thresholds(restored: None) -> None:
    collector.tune()
    assert gc.get_threshold() == collector.THRESHOLDS


def test_objects_alive_after_start_up_are_frozen(restored: None) -> None:
    long_lived = [{"schema": i} for i in range(100)]
    collector.freeze_long_lived()
    assert gc.get_freeze_count() >= len(long_lived)
    # Frozen objects are in no generation: collections no longer walk them.
    collected = {id(obj) for obj in gc.get_objects()}
    assert not any(id(x) in collected for x in long_lived)
