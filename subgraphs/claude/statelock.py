"""One owner of a state directory: an exclusive OS file lock next to the database.

A second gateway (or standalone claude subgraph) started on the same state
directory would mark the first one's running commands INTERRUPTED and write into
the same sessions; ``StateLock.acquire()`` makes it stop at start-up instead, with
one line naming the directory and the pid that holds it. The lock is ``flock`` on
``<database>.lock``: the OS releases it when the holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from subgraphs.claude.errors import StateLockedError

__all__ = ["StateLock"]

logger = logging.getLogger("gateway.claude.statelock")


class StateLock:
    """``acquire()`` or ``StateLockedError``; ``release()`` (idempotent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateLockedError(
                f"state directory {self.path.parent} is in use by another process "
                f"(pid {holder if holder is not None else 'unknown'}); stop it or "
                "give this one another state directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        logger.debug("locked %s", self.path)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # Closing the descriptor drops the lock; the file stays (removing it
            # would let a third process lock a new file while a second holds the
            # old one).
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
