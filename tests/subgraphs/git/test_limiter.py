"""Git reads run at most ``max_concurrency`` at a time, queued beyond, each with a
timeout; their failures reach clients without server details."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.transports.base import RequestContext
from subgraphs.git import create_subgraph
from subgraphs.git.errors import GitCommandError, GitTimeoutError
from subgraphs.git.limiter import GitLimiter
from tests.subgraphs.git.conftest import run

# A safety net against a hung test, not a timing assertion.
PATIENCE = 20


async def _until(condition: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not condition():  # noqa: ASYNC110 (a thread changes the state)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), PATIENCE)


async def test_no_more_than_max_concurrency_run_and_the_rest_wait_in_order() -> None:
    limiter = GitLimiter(max_concurrency=3, timeout=PATIENCE)
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        release.wait(PATIENCE)
        return n

    tasks = [
        asyncio.ensure_future(limiter.run("test", lambda n=n: work(n)))
        for n in range(12)
    ]
    await _until(lambda: len(started) == 3)
    for _ in range(10):
        await asyncio.sleep(0)
    assert limiter.running == 3 and sorted(started) == [0, 1, 2]
    release.set()
    assert await asyncio.gather(*tasks) == list(range(12))
    assert limiter.peak == 3
    assert started[3:] == list(range(3, 12))  # queued in arrival order
    limiter.close()


async def test_an_operation_past_the_timeout_fails_and_keeps_its_slot_until_done() -> (
    None
):
    limiter = GitLimiter(max_concurrency=1, timeout=0.05)
    release = threading.Event()
    second_ran = threading.Event()
    with pytest.raises(GitTimeoutError) as raised:
        await limiter.run("status", lambda: release.wait(PATIENCE))
    assert raised.value.extensions == {"code": "GIT_TIMEOUT"}
    # The timed-out thread still runs: the next operation waits for its slot.
    limiter.timeout = PATIENCE
    second = asyncio.ensure_future(limiter.run("log", second_ran.set))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second_ran.is_set() and limiter.running == 1
    release.set()
    await second
    assert second_ran.is_set() and limiter.peak == 1
    limiter.close()


async def test_a_cancelled_request_that_waits_for_a_slot_never_runs() -> None:
    limiter = GitLimiter(max_concurrency=1, timeout=PATIENCE)
    release = threading.Event()
    ran = threading.Event()
    first = asyncio.ensure_future(limiter.run("a", lambda: release.wait(PATIENCE)))
    await _until(lambda: limiter.running == 1)
    waiting = asyncio.ensure_future(limiter.run("b", ran.set))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await first
    assert await limiter.run("c", lambda: 3) == 3
    assert waiting.cancelled() and not ran.is_set()
    limiter.close()


async def test_unexpected_failures_reach_the_client_without_their_text() -> None:
    limiter = GitLimiter(max_concurrency=2, timeout=PATIENCE)

    def fail() -> None:
        raise OSError(2, "No such file", "/srv/secret/absolute/path")

    with pytest.raises(GitCommandError) as raised:
        await limiter.run("status", fail)
    assert "/srv/secret" not in raised.value.message
    assert raised.value.extensions == {"code": "GIT_ERROR"}
    limiter.close()


async def test_three_hundred_aliases_read_at_most_max_concurrency_at_once(
    root: Path, repo: Path
) -> None:
    local = create_subgraph({"roots": [str(root)], "max_concurrency": 4})
    aliases = " ".join(f"s{i}: status {{ clean }}" for i in range(300))
    result = await run(local, f'{{ repository(path: "repo") {{ {aliases} }} }}')
    assert result.errors is None
    assert all(v == {"clean": True} for v in result.data["repository"].values())
    assert local.context is not None
    limiter = local.context(RequestContext()).service.limiter
    assert 1 <= limiter.peak <= 4
