"""``PathGuard``: every path a client names must resolve inside a configured root.

Paths are resolved with ``realpath`` (``..`` and every symlink followed) before the
check, so neither ``..`` nor a symlink nor an absolute path can leave the roots.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from subgraphs.git.errors import BadUserInputError, ForbiddenPathError

__all__ = ["PathGuard", "real_path", "repository_relative"]


def real_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``..`` and every symlink resolved."""
    return Path(os.path.realpath(path))


def _check_text(path: str) -> None:
    if "\0" in path:
        raise BadUserInputError("a path cannot contain a NUL character")


class PathGuard:
    """Resolves client paths against ``roots`` (real paths; the first is the
    default and the base of relative paths)."""

    def __init__(self, roots: Sequence[Path]) -> None:
        if not roots:
            raise ValueError("at least one root is needed")
        self.roots = tuple(roots)

    def contains(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def resolve(self, path: str | None) -> Path:
        """The real path of ``path``; ``FORBIDDEN_PATH`` when it is outside every
        root."""
        if path is None or path == "":
            return self.roots[0]
        _check_text(path)
        real = real_path(self.roots[0] / path)
        if not self.contains(real):
            raise ForbiddenPathError(
                f"path {path!r} is outside the configured roots", path=path
            )
        return real


def repository_relative(path: str) -> str:
    """A path inside a repository, normalised (``a/./b`` -> ``a/b``).

    Absolute paths and paths that climb out with ``..`` are ``FORBIDDEN_PATH``.
    """
    _check_text(path)
    if not path:
        raise BadUserInputError("the path is empty")
    if path.startswith("/") or os.path.isabs(path):
        raise ForbiddenPathError(
            f"path {path!r} must be relative to the repository", path=path
        )
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ForbiddenPathError(f"path {path!r} leaves the repository", path=path)
    return normal
