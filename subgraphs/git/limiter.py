"""``GitLimiter``: every git operation runs in a bounded thread pool, with a timeout.

At most ``max_concurrency`` operations run at once (300 aliases of one field run 8
at a time, the rest wait in a FIFO queue that a cancelled request leaves at once).
An operation that runs past ``timeout`` fails its field with ``GIT_TIMEOUT``; its
thread cannot be interrupted, so it keeps its slot until libgit2 returns, and the
bound holds even then.

Failures that are not this subgraph's errors (libgit2's, the OS's) are logged with
their details and reach the client as a ``GIT_ERROR`` without them: libgit2
messages carry absolute server paths.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from graphql import GraphQLError

from subgraphs.git.errors import GitCommandError, GitTimeoutError

__all__ = ["GitLimiter"]

logger = logging.getLogger("subgraphs.git.limiter")

T = TypeVar("T")


class GitLimiter:
    """Runs blocking git reads off the event loop, ``max_concurrency`` at a time."""

    def __init__(self, max_concurrency: int, timeout: float) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = 0
        """Operations running in a thread now (for tests and metrics)."""
        self.peak = 0
        """The most that ever ran at once."""

    def _bind(self) -> tuple[ThreadPoolExecutor, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        if self._executor is None:
            executor = ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="git"
            )
            # A subgraph dropped without its lifespan (tests, tools) still lets
            # its idle threads go.
            weakref.finalize(self, executor.shutdown, wait=False)
            self._executor = executor
        return self._executor, self._slots

    async def run(self, what: str, function: Callable[[], T]) -> T:
        """``function()`` in a worker thread; ``what`` names it in the log."""
        executor, slots = self._bind()
        await slots.acquire()
        loop = asyncio.get_running_loop()
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            future = loop.run_in_executor(executor, function)
        except BaseException:
            self.running -= 1
            slots.release()
            raise
        future.add_done_callback(functools.partial(self._finished, slots))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            logger.warning("git %s ran past %.1fs", what, self.timeout)
            raise GitTimeoutError(
                f"git {what} did not finish within {self.timeout:g}s"
            ) from None
        except GraphQLError:
            raise
        except Exception as exc:
            logger.warning("git %s failed: %r", what, exc)
            raise GitCommandError(
                f"git {what} failed: the repository could not be read"
            ) from None

    def _finished(
        self, slots: asyncio.Semaphore, future: asyncio.Future[object]
    ) -> None:
        self.running -= 1
        slots.release()
        if not future.cancelled():
            future.exception()  # retrieved: a timed-out failure is not "never retrieved"

    def close(self) -> None:
        """Stop accepting work; threads still running finish on their own."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
