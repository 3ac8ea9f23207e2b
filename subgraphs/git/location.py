"""``locate()``: where a work tree's git files are, checked against the roots.

A work tree's ``.git`` is a directory, or a file (``gitdir: <path>``, written by
``git worktree`` and submodules) that points anywhere; a linked worktree's git
directory names its common directory in ``commondir``; ``objects/info/alternates``
borrows objects from other directories. Every one of them is resolved here, with
the file system alone (no git configuration, no ``GIT_*`` environment), and must
lie inside a configured root, or the repository is ``FORBIDDEN_PATH``.
``open_repository`` then opens it with libgit2 and checks that libgit2 found the
same git directory and work tree (``core.worktree`` may point elsewhere).

See https://git-scm.com/docs/gitrepository-layout
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, RepositoryOpenFlag

from subgraphs.git.errors import ForbiddenPathError, NotARepositoryError
from subgraphs.git.isolation import isolate_libgit2
from subgraphs.git.paths import PathGuard, real_path, shown

__all__ = [
    "Location",
    "check_submodules",
    "find_top",
    "locate",
    "open_repository",
]

_MAX_POINTER_BYTES = 4096
_MAX_ALTERNATES_DEPTH = 5
"""libgit2's own limit (``GIT_ALTERNATES_MAX_DEPTH``)."""


@dataclass(frozen=True, slots=True)
class Location:
    """Real paths of a work tree and of the git files it reads."""

    top: Path
    git_dir: Path
    common_dir: Path


def find_top(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds a ``.git``."""
    directory = start
    while True:
        if os.path.lexists(directory / ".git"):
            return directory
        if directory.parent == directory:
            return None
        directory = directory.parent


def _read_small(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_POINTER_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def _inside(guard: PathGuard, path: Path, what: str, asked: str | None) -> Path:
    if not guard.contains(path):
        raise ForbiddenPathError(
            f"the {what} of {shown(asked)} is outside the configured roots",
            path=asked or "",
        )
    return path


def _check_alternates(
    guard: PathGuard, objects: Path, asked: str | None, depth: int
) -> None:
    text = _read_small(objects / "info" / "alternates")
    if text is None or depth > _MAX_ALTERNATES_DEPTH:
        return
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        alternate = real_path(objects / line.strip('"'))
        _inside(guard, alternate, "object store it borrows from", asked)
        _check_alternates(guard, alternate, asked, depth + 1)


def locate(top: Path, guard: PathGuard, asked: str | None) -> Location:
    """The git files of the work tree ``top`` (a real path inside the roots).

    ``asked`` is the path as the client sent it, for messages.
    """
    dot_git = real_path(top / ".git")
    if dot_git.is_dir():
        git_dir = dot_git
    elif dot_git.is_file():
        text = _read_small(dot_git) or ""
        first = text.splitlines()[0] if text else ""
        if not first.startswith("gitdir:"):
            raise NotARepositoryError(
                f"{shown(asked)} is not in a git work tree", path=asked or ""
            )
        git_dir = real_path(top / first[len("gitdir:") :].strip())
    else:
        raise NotARepositoryError(
            f"{shown(asked)} is not in a git work tree", path=asked or ""
        )
    _inside(guard, git_dir, "git directory", asked)
    common_dir = git_dir
    pointer = _read_small(git_dir / "commondir")
    if pointer is not None and pointer.strip():
        common_dir = real_path(git_dir / pointer.strip())
        _inside(guard, common_dir, "common git directory", asked)
    _check_alternates(guard, common_dir / "objects", asked, 1)
    return Location(top=top, git_dir=git_dir, common_dir=common_dir)


def open_repository(
    location: Location, guard: PathGuard, asked: str | None
) -> pygit2.Repository:
    """libgit2's view of ``location``; refused unless it is the same one."""
    isolate_libgit2()
    try:
        repository = pygit2.Repository(str(location.top), RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
        if "not owned by current user" in str(exc):
            raise NotARepositoryError(
                f"{shown(asked)} belongs to another user: it is not opened "
                "(git's safe.directory check; the global config is never read)",
                path=asked or "",
            ) from exc
        raise NotARepositoryError(
            f"{shown(asked)} is not a git repository libgit2 can open", path=asked or ""
        ) from exc
    try:
        if repository.is_bare or repository.workdir is None:
            raise NotARepositoryError(
                f"{shown(asked)} is not in a git work tree", path=asked or ""
            )
        if real_path(repository.path) != location.git_dir:
            raise ForbiddenPathError(
                f"the git directory of {shown(asked)} moved while it was read",
                path=asked or "",
            )
        workdir = real_path(repository.workdir)
        if workdir != location.top:
            _inside(guard, workdir, "work tree (core.worktree)", asked)
            raise NotARepositoryError(
                f"the work tree of {shown(asked)} is configured elsewhere (core.worktree)",
                path=asked or "",
            )
    except BaseException:
        repository.free()
        raise
    return repository


def check_submodules(
    repo: pygit2.Repository, location: Location, guard: PathGuard, asked: str | None
) -> None:
    """libgit2 opens each checked-out submodule to tell whether it changed (status,
    diff): their git files must lie inside the roots too. One level deep, as the
    status of a submodule is read."""
    for entry in repo.index:
        if entry.mode != FileMode.COMMIT:
            continue
        directory = location.top / entry.path
        if not os.path.lexists(directory / ".git"):
            continue
        real = _inside(guard, real_path(directory), "submodule", asked)
        try:
            locate(real, guard, asked)
        except NotARepositoryError:
            continue  # not a repository: libgit2 has nothing to open there
