"""``RepositoryWatcher``: tells subscribers when a repository's HEAD, index or
working tree changes.

One poller per repository, shared by all its subscribers and stopped when the last
one leaves. Each poll costs one status read (libgit2, which never rewrites the
index) and a ``stat`` of the index and of each changed or untracked file, so
editing an already modified file is seen too. Polls run through the same bounded
pool as every other git read, and re-check that the repository's git files are
still inside the roots.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLError

from subgraphs.git.errors import GitCommandError
from subgraphs.git.models import FileChange, Status
from subgraphs.git.repository import Repository

__all__ = ["Fingerprint", "RepositoryChange", "RepositoryWatcher", "Subscription"]

logger = logging.getLogger("subgraphs.git.watcher")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Digests of the three parts of a repository's state."""

    head: str
    index: str
    worktree: str

    def changed_parts(self, before: Fingerprint) -> tuple[str, ...]:
        parts = []
        if self.head != before.head:
            parts.append("HEAD")
        if self.index != before.index:
            parts.append("INDEX")
        if self.worktree != before.worktree:
            parts.append("WORKTREE")
        return tuple(parts)

    @property
    def digest(self) -> str:
        return _digest([self.head, self.index, self.worktree])


@dataclass(frozen=True, slots=True)
class RepositoryChange:
    """One event of ``repositoryChanged``."""

    repository: Repository
    parts: tuple[str, ...]
    """Which of ``HEAD``, ``INDEX``, ``WORKTREE`` changed."""
    fingerprint: Fingerprint
    head: str | None
    branch: str | None


def _digest(items: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for item in items:
        hasher.update(item.encode("utf-8", "surrogateescape"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


def _stat(path: Path) -> str:
    try:
        st = os.lstat(path)
    except OSError:
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def _entries(changes: Iterable[FileChange]) -> list[str]:
    return [f"{c.code} {c.path} {c.original_path or ''}" for c in changes]


def _fingerprint(repository: Repository, status: Status) -> Fingerprint:
    """Blocking (``stat`` calls): run in a thread."""
    index = [_stat(repository.git_dir / "index")]
    index += _entries(status.staged) + _entries(status.conflicted)
    worktree = _entries(status.unstaged) + _entries(status.untracked)
    worktree += [
        _stat(repository.path / change.path)
        for change in (*status.unstaged, *status.untracked, *status.conflicted)
    ]
    return Fingerprint(
        head=f"{status.head}:{status.branch}",
        index=_digest(index),
        worktree=_digest(worktree),
    )


async def take_fingerprint(repository: Repository) -> tuple[Fingerprint, Status]:
    status = await repository.status()
    fingerprint = await repository.service.limiter.run(
        "stat", lambda: _fingerprint(repository, status)
    )
    return fingerprint, status


_END = object()
_Item = RepositoryChange | GraphQLError | object


class Subscription:
    """An async iterator of ``RepositoryChange``; a failure of the repository
    arrives once as a ``GraphQLError`` item, then the iteration ends."""

    def __init__(self, poller: _Poller) -> None:
        self._poller = poller
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=1)
        self._done = False

    def push(self, item: _Item) -> None:
        """Latest wins: a slow subscriber gets the newest state, not a backlog."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> RepositoryChange | GraphQLError:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, RepositoryChange):
            return item
        await self.aclose()
        if isinstance(item, GraphQLError):
            return item
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            await self._poller.leave(self)


class _Poller:
    def __init__(
        self, watcher: RepositoryWatcher, repository: Repository, interval: float
    ) -> None:
        self.watcher = watcher
        self.repository = repository
        self.interval = interval
        self.subscribers: set[Subscription] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.baseline: Fingerprint | None = None

    async def start(self) -> None:
        try:
            self.baseline, _ = await take_fingerprint(self.repository)
        except BaseException as exc:
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved: later joiners re-raise it
            raise
        self.ready.set_result(None)
        self.task = asyncio.create_task(
            self._run(), name=f"git-watch {self.repository.path}"
        )

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                fingerprint, status = await take_fingerprint(self.repository)
                assert self.baseline is not None
                parts = fingerprint.changed_parts(self.baseline)
                if not parts:
                    continue
                self.baseline = fingerprint
                change = RepositoryChange(
                    repository=self.repository,
                    parts=parts,
                    fingerprint=fingerprint,
                    head=status.head,
                    branch=status.branch,
                )
                for subscriber in list(self.subscribers):
                    subscriber.push(change)
        except GraphQLError as error:
            self._fail(error)
        except Exception:  # a poll must never die silently
            logger.exception("watching %s failed", self.repository.path)
            self._fail(GitCommandError("watching the repository failed"))

    def _fail(self, error: GraphQLError) -> None:
        self.watcher._forget(self)
        for subscriber in list(self.subscribers):
            subscriber.push(error)

    async def leave(self, subscriber: Subscription) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            await self.stop()

    async def stop(self) -> None:
        self.watcher._forget(self)
        for subscriber in list(self.subscribers):
            subscriber.push(_END)
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class RepositoryWatcher:
    """Shares one poller per repository among its subscribers."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pollers: dict[Path, _Poller] = {}

    @property
    def watched(self) -> tuple[Path, ...]:
        """The repositories being polled now."""
        return tuple(self._pollers)

    async def subscribe(self, repository: Repository) -> Subscription:
        """Start receiving changes of ``repository`` that happen from now on."""
        poller = self._pollers.get(repository.path)
        if poller is None:
            poller = _Poller(self, repository, self.interval)
            self._pollers[repository.path] = poller
            try:
                await poller.start()
            except BaseException:
                self._forget(poller)
                raise
        else:
            await asyncio.shield(poller.ready)
        subscription = Subscription(poller)
        poller.subscribers.add(subscription)
        return subscription

    def _forget(self, poller: _Poller) -> None:
        if self._pollers.get(poller.repository.path) is poller:
            del self._pollers[poller.repository.path]

    async def close(self) -> None:
        """Stop every poller; subscribers see the end of their stream."""
        for poller in list(self._pollers.values()):
            await poller.stop()
