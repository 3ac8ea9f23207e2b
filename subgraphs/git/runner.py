"""``GitRunner``: runs one ``git`` command as a subprocess, with bounded output.

Argument lists only, never a shell. The repository's location comes from
``-C <dir>`` alone: variables that would redirect git elsewhere (``GIT_DIR``...) are
dropped from the environment. Settings that could make git run a program configured
by the repository (``core.fsmonitor``) are turned off. A cancelled caller kills the
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from subgraphs.git.errors import GitCommandError

__all__ = ["GitOutput", "GitRunner"]

logger = logging.getLogger("subgraphs.git.runner")

_CHUNK = 64 * 1024
_STDERR_LIMIT = 16 * 1024
_LOCATION_VARIABLES = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_PAGER",
        "GIT_EXTERNAL_DIFF",
    }
)


@dataclass(frozen=True, slots=True)
class GitOutput:
    """What one git command printed. ``truncated``: stdout was cut at the bound
    (the process was then stopped, so ``returncode`` is not meaningful)."""

    returncode: int
    stdout: bytes
    stderr: str
    truncated: bool

    @property
    def ok(self) -> bool:
        return self.truncated or self.returncode == 0

    def error_line(self) -> str:
        for line in self.stderr.splitlines():
            if line.strip():
                return line.strip()
        return f"git exited with status {self.returncode}"


def _environment(base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in _LOCATION_VARIABLES}
    env.update(
        {
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            # Reads must not take the index lock nor rewrite the index: a poller
            # would otherwise disturb the user's own git commands.
            "GIT_OPTIONAL_LOCKS": "0",
        }
    )
    return env


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks), False
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)


class GitRunner:
    """Runs git commands in a directory; ``max_output_bytes`` bounds stdout."""

    def __init__(self, max_output_bytes: int, executable: str = "git") -> None:
        self.max_output_bytes = max_output_bytes
        self.executable = executable
        self._env = _environment(os.environ)

    async def run(self, cwd: Path, *args: str, limit: int | None = None) -> GitOutput:
        """Run ``git -C cwd args...``; stdout beyond ``limit`` (default the
        configured bound) is cut and the process stopped."""
        command = [
            self.executable,
            "--no-pager",
            "-C",
            str(cwd),
            "-c",
            "core.quotepath=off",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "color.ui=false",
            *args,
        ]
        bound = self.max_output_bytes if limit is None else limit
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
            )
        except OSError as exc:
            raise GitCommandError(f"cannot run git: {exc.strerror or exc}") from exc
        assert process.stdout is not None and process.stderr is not None
        try:
            stderr_task = asyncio.ensure_future(
                _read_bounded(process.stderr, _STDERR_LIMIT)
            )
            try:
                stdout, truncated = await _read_bounded(process.stdout, bound)
                if truncated:
                    _kill(process)
                stderr, _ = await stderr_task
            finally:
                stderr_task.cancel()
            returncode = await process.wait()
        finally:
            if process.returncode is None:
                _kill(process)
                with contextlib.suppress(ProcessLookupError):
                    await asyncio.shield(process.wait())
        logger.debug("git %s -> %s", " ".join(args[:2]), returncode)
        return GitOutput(
            returncode=returncode,
            stdout=stdout,
            stderr=stderr.decode("utf-8", "replace"),
            truncated=truncated,
        )


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
