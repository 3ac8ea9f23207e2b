"""The git subgraph's options (``supergraph.yaml``), parsed once into ``GitOptions``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

__all__ = ["GitOptions"]

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_TIMEOUT = 10.0
_KNOWN = frozenset(
    {"roots", "max_output_bytes", "poll_interval", "max_concurrency", "timeout"}
)


def _number(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"git option {key!r} must be a number of seconds")
    return float(value)


@dataclass(frozen=True, slots=True)
class GitOptions:
    """``roots`` are real paths (symlinks resolved); the first is the default."""

    roots: tuple[Path, ...]
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    """Bound on what one answer carries (file text, patch, status paths); more is
    cut and flagged."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between two checks of a watched repository."""
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    """Git operations running at once; more wait in a queue."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds one git operation may run before its field fails with GIT_TIMEOUT."""

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> GitOptions:
        """Options as written in supergraph.yaml; ``ConfigError`` names a bad one."""
        unknown = sorted(set(options) - _KNOWN)
        if unknown:
            raise ConfigError(f"unknown git option(s): {', '.join(unknown)}")
        raw_roots = options.get("roots")
        if raw_roots is None:
            raw_roots = [os.getcwd()]
        elif isinstance(raw_roots, str):
            raw_roots = [raw_roots]
        if not isinstance(raw_roots, list | tuple) or not raw_roots:
            raise ConfigError("git option 'roots' must be a non-empty list of dirs")
        roots: list[Path] = []
        for raw in raw_roots:
            if not isinstance(raw, str | os.PathLike) or not str(raw):
                raise ConfigError(f"git option 'roots': {raw!r} is not a path")
            root = Path(os.path.realpath(os.fspath(raw)))
            if not root.is_dir():
                raise ConfigError(f"git option 'roots': {raw} is not a directory")
            roots.append(root)
        max_output = options.get("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES)
        if isinstance(max_output, bool) or not isinstance(max_output, int):
            raise ConfigError("git option 'max_output_bytes' must be an integer")
        if max_output < 1024:
            raise ConfigError("git option 'max_output_bytes' must be at least 1024")
        interval = _number(options, "poll_interval", DEFAULT_POLL_INTERVAL)
        if not 0.05 <= interval <= 3600:
            raise ConfigError("git option 'poll_interval' must be in [0.05, 3600]")
        concurrency = options.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise ConfigError("git option 'max_concurrency' must be an integer")
        if not 1 <= concurrency <= 256:
            raise ConfigError("git option 'max_concurrency' must be in [1, 256]")
        timeout = _number(options, "timeout", DEFAULT_TIMEOUT)
        if not 0 < timeout <= 3600:
            raise ConfigError("git option 'timeout' must be in (0, 3600] seconds")
        return cls(
            roots=tuple(roots),
            max_output_bytes=max_output,
            poll_interval=interval,
            max_concurrency=concurrency,
            timeout=timeout,
        )
