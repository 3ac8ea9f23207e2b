"""``PathGuard``: every path a client names must resolve inside a configured root.

Paths are resolved with ``realpath`` (``..`` and every symlink followed) before the
check, so neither ``..`` nor a symlink nor an absolute path can leave the roots.
Paths inside a repository never name anything in a ``.git`` directory.
Messages show a path as the client sent it (cut when long), never the server's
absolute path.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from subgraphs.git.errors import BadUserInputError, ForbiddenPathError

__all__ = [
    "MAX_PATH_BYTES",
    "PathGuard",
    "is_git_component",
    "real_path",
    "repository_relative",
    "shown",
]

MAX_PATH_BYTES = 4096
"""Longer paths are refused before they reach the file system (Linux's PATH_MAX)."""
_SHOWN_CHARACTERS = 200


def real_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``..`` and every symlink resolved."""
    return Path(os.path.realpath(path))


def shown(path: str | None) -> str:
    """``path`` quoted for a message; the default root when there is none."""
    if not path:
        return "the default root"
    if len(path) > _SHOWN_CHARACTERS:
        path = path[:_SHOWN_CHARACTERS] + "..."
    return repr(path)


def _check_text(path: str) -> None:
    if "\0" in path:
        raise BadUserInputError("a path cannot contain a NUL character")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise BadUserInputError(f"a path is at most {MAX_PATH_BYTES} bytes long")


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
        try:
            real = real_path(self.roots[0] / path)
        except (OSError, ValueError):
            raise BadUserInputError(f"path {shown(path)} cannot be resolved") from None
        if not self.contains(real):
            raise ForbiddenPathError(
                f"path {shown(path)} is outside the configured roots", path=path
            )
        return real


def is_git_component(name: str) -> bool:
    """``.git`` in any case (case-insensitive file systems read ``.GIT`` too)."""
    return name.casefold() == ".git"


def repository_relative(path: str) -> str:
    """A path inside a repository, normalised (``a/./b`` -> ``a/b``).

    Absolute paths, paths that climb out with ``..`` and paths through a ``.git``
    directory are ``FORBIDDEN_PATH``.
    """
    _check_text(path)
    if not path:
        raise BadUserInputError("the path is empty")
    if path.startswith("/") or os.path.isabs(path):
        raise ForbiddenPathError(
            f"path {shown(path)} must be relative to the repository", path=path
        )
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ForbiddenPathError(f"path {shown(path)} leaves the repository", path=path)
    if any(is_git_component(part) for part in normal.split("/")):
        raise ForbiddenPathError(
            f"path {shown(path)} is inside .git, which is never read", path=path
        )
    return normal
