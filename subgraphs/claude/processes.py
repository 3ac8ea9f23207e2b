"""CLI processes left by a previous run: find them by pid and start time, reap them.

Each command records its CLI's pid and the kernel's start time of that pid
(``/proc/<pid>/stat``, field 22). At start-up, before a command left RUNNING is
marked INTERRUPTED, every process of its CLI's process group that started no
earlier than the CLI is killed; a pid that was reused by another program since has
another start time and is left alone. Linux only (no ``/proc`` elsewhere: nothing
is reaped there, and the launcher's parent-death signal is Linux only too).
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import suppress
from pathlib import Path

__all__ = ["process_start_time", "reap_process_group"]

logger = logging.getLogger("gateway.claude.processes")

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    _, _, rest = text.rpartition(")")
    return rest.split()


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None (no such
    process, or no ``/proc``)."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    # After the name: state(3) ppid(4) pgrp(5) ... starttime(22) -> index 19.
    return int(fields[19])


def _process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields is not None and len(fields) > 2 else None


def reap_process_group(leader: int, started: int) -> list[int]:
    """Kill (SIGKILL) every process of ``leader``'s process group that started at
    or after ``started``; the pids killed."""
    if not _PROC.is_dir():
        return []
    killed: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == os.getpid() or _process_group(pid) != leader:
            continue
        start = process_start_time(pid)
        if start is None or start < started:
            continue
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    if killed:
        logger.warning(
            "killed %d process(es) left by a previous run (group %d): %s",
            len(killed),
            leader,
            ", ".join(map(str, killed)),
        )
    return killed
