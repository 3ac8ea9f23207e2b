"""Working directories: an existing directory inside one of the configured roots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from subgraphs.claude.errors import BadWorkingDirectoryError, ForbiddenPathError

__all__ = ["inside_roots", "resolve_roots", "working_directory"]


def resolve_roots(roots: Sequence[str | Path]) -> tuple[Path, ...]:
    """Each root made absolute, with symbolic links resolved."""
    return tuple(Path(os.path.realpath(os.path.expanduser(str(r)))) for r in roots)


def inside_roots(path: str, roots: Sequence[Path]) -> bool:
    """Whether the real ``path`` is one of ``roots`` or lies below one."""
    for root in roots:
        text = str(root)
        if path == text or path.startswith(text.rstrip(os.sep) + os.sep):
            return True
    return False


def working_directory(path: str, roots: Sequence[Path]) -> str:
    """``path`` resolved (``~``, relative parts and symbolic links), checked to lie
    inside ``roots`` (else ``FORBIDDEN_PATH``), then to be an existing directory
    (else ``BAD_WORKING_DIRECTORY``). Messages name the path as the client gave it,
    never the server's resolved path or its roots."""
    text = path.strip()
    if not text or "\x00" in text:
        raise BadWorkingDirectoryError(f"working directory {path!r} is not a path")
    real = os.path.realpath(os.path.abspath(os.path.expanduser(text)))
    if not inside_roots(real, roots):
        raise ForbiddenPathError(
            f"working directory {path!r} is outside the directories this gateway "
            "may use (the claude subgraph's roots)"
        )
    if not os.path.isdir(real):
        raise BadWorkingDirectoryError(
            f"working directory {path!r} does not exist or is not a directory"
        )
    return real
