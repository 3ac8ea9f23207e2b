"""``Repository``: one git work tree read with libgit2; ``GitService`` opens them,
checking the path, the git directory and the common directory against the roots.

Every read runs through the service's ``GitLimiter`` (a bounded thread pool with a
timeout) and opens the repository afresh (the tree may change between two reads),
after checking again that its git files are where they were, inside the roots.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pygit2

from subgraphs.git.errors import (
    BadUserInputError,
    ForbiddenPathError,
    GitCommandError,
    NotARepositoryError,
)
from subgraphs.git.limiter import GitLimiter
from subgraphs.git.location import (
    Location,
    check_submodules,
    find_top,
    locate,
    open_repository,
)
from subgraphs.git.models import (
    Branch,
    Commit,
    GitHubRepositoryRef,
    Remote,
    Status,
)
from subgraphs.git.paths import (
    PathGuard,
    is_git_component,
    real_path,
    repository_relative,
    shown,
)
from subgraphs.git.reads import (
    Diff,
    FileContent,
    content,
    read_blob,
    read_branches,
    read_current_branch,
    read_diff,
    read_log,
    read_remotes,
    read_status,
)
from subgraphs.git.remote_url import github_repository

__all__ = [
    "MAX_PAGE",
    "Diff",
    "FileContent",
    "GitService",
    "Repository",
    "check_first",
    "decode_cursor",
    "encode_cursor",
]

MAX_PAGE = 100
_MAX_REVISION = 256

T = TypeVar("T")


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the ``offset``-th commit of a log (0-based)."""
    return base64.urlsafe_b64encode(f"log:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        kind, _, number = text.partition(":")
        offset = int(number)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInputError(f"invalid cursor {shown(cursor)}") from None
    if kind != "log" or offset < 0:
        raise BadUserInputError(f"invalid cursor {shown(cursor)}")
    return offset


def check_first(first: object) -> int:
    """``first`` as a page size in 0..MAX_PAGE; ``BAD_USER_INPUT`` otherwise
    (``null`` included)."""
    if isinstance(first, bool) or not isinstance(first, int):
        raise BadUserInputError(f"'first' must be an integer between 0 and {MAX_PAGE}")
    if not 0 <= first <= MAX_PAGE:
        raise BadUserInputError(f"'first' must be between 0 and {MAX_PAGE}")
    return first


def _check_revision(rev: str) -> str:
    if (
        not rev
        or len(rev) > _MAX_REVISION
        or rev.startswith("-")
        or "\0" in rev
        or ":" in rev
    ):
        raise BadUserInputError(f"invalid revision {shown(rev)}")
    return rev


class Repository:
    """A git work tree. Every method reads it again (no caching: it may change)."""

    def __init__(
        self, location: Location, asked: str | None, service: GitService
    ) -> None:
        self.location = location
        self.asked = asked
        """The path the client named (for messages)."""
        self._service = service

    @property
    def service(self) -> GitService:
        return self._service

    @property
    def path(self) -> Path:
        """The top of the work tree (a real path)."""
        return self.location.top

    @property
    def git_dir(self) -> Path:
        return self.location.git_dir

    def __repr__(self) -> str:
        return f"Repository({str(self.path)!r})"

    def _reopen(self) -> pygit2.Repository:
        """Blocking: the repository, its git files checked again."""
        guard = self._service.guard
        try:
            now = locate(self.location.top, guard, self.asked)
        except NotARepositoryError:
            raise GitCommandError(
                f"{shown(self.asked)} is no longer a git repository"
            ) from None
        if now != self.location:
            raise GitCommandError(f"the git files of {shown(self.asked)} moved")
        try:
            return open_repository(now, guard, self.asked)
        except NotARepositoryError:
            raise GitCommandError(
                f"{shown(self.asked)} can no longer be opened"
            ) from None

    async def _read(
        self,
        what: str,
        read: Callable[[pygit2.Repository], T],
        *,
        submodules: bool = False,
    ) -> T:
        """``read`` in the limiter; ``submodules``: the read opens submodules."""

        def work() -> T:
            repo = self._reopen()
            try:
                if submodules:
                    check_submodules(
                        repo, self.location, self._service.guard, self.asked
                    )
                return read(repo)
            finally:
                repo.free()

        return await self._service.limiter.run(what, work)

    async def current_branch(self) -> str | None:
        return await self._read("symbolic-ref", read_current_branch)

    async def head(self) -> Commit | None:
        commits = await self.log(1)
        return commits[0] if commits else None

    async def branches(self) -> list[Branch]:
        return await self._read("branches", read_branches)

    async def remotes(self) -> list[Remote]:
        return await self._read("remotes", read_remotes)

    async def github(self) -> GitHubRepositoryRef | None:
        """The GitHub repository of the ``origin`` remote, if it is on github.com."""
        for remote in await self.remotes():
            if remote.name == "origin":
                return github_repository(remote.url)
        return None

    async def status(self) -> Status:
        limit = self._service.max_output_bytes
        return await self._read(
            "status", lambda repo: read_status(repo, limit), submodules=True
        )

    async def log(self, first: object = 20, after: str | None = None) -> list[Commit]:
        """Commits reachable from HEAD, newest first: ``first`` after ``after``."""
        size = check_first(first)
        offset = 0 if after is None else decode_cursor(after) + 1
        if size == 0:
            return []
        return await self._read(
            "log", lambda repo: read_log(repo, offset, size, encode_cursor)
        )

    async def diff(self, staged: bool = False, path: str | None = None) -> Diff:
        """The unstaged (or, with ``staged``, the staged) changes, optionally of one
        path. No diff driver, textconv or external diff is ever run."""
        prefix = None if path is None else repository_relative(path)
        limit = self._service.max_output_bytes
        return await self._read(
            "diff",
            lambda repo: read_diff(repo, staged, prefix, limit),
            submodules=not staged,
        )

    async def file(self, path: str, rev: str | None = None) -> FileContent | None:
        """A file's contents at ``rev``, or in the working tree when ``rev`` is
        ``None``; ``None`` when there is no such file."""
        relative = repository_relative(path)
        limit = self._service.max_output_bytes
        if rev is None:
            return await self._service.limiter.run(
                "read", lambda: self._worktree_file(path, relative, limit)
            )
        revision = _check_revision(rev)
        return await self._read(
            "cat-file",
            lambda repo: read_blob(repo, revision, relative, shown(path), limit),
        )

    def _worktree_file(
        self, asked: str, relative: str, limit: int
    ) -> FileContent | None:
        """Blocking: a regular file of the work tree, never one in a git directory."""
        real = real_path(self.path / relative)
        location = self.location
        inside = real == self.path or real.is_relative_to(self.path)
        if (
            not inside
            or not self._service.guard.contains(real)
            or any(is_git_component(p) for p in real.relative_to(self.path).parts)
            or real.is_relative_to(location.git_dir)
            or real.is_relative_to(location.common_dir)
        ):
            raise ForbiddenPathError(
                f"path {shown(asked)} resolves outside the repository's files",
                path=asked,
            )
        try:
            descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
                return None
            if exc.errno == errno.EISDIR:
                raise BadUserInputError(f"{shown(asked)} is a directory") from None
            raise GitCommandError(
                f"cannot read {shown(asked)}: {exc.strerror}"
            ) from None
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise BadUserInputError(f"{shown(asked)} is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise BadUserInputError(f"{shown(asked)} is not a regular file")
            data = handle.read(limit)
        return content(relative, None, info.st_size, data, info.st_size > len(data))


class GitService:
    """Opens repositories under the configured roots."""

    def __init__(
        self, guard: PathGuard, limiter: GitLimiter, max_output_bytes: int
    ) -> None:
        self.guard = guard
        self.limiter = limiter
        self.max_output_bytes = max_output_bytes

    async def open(self, path: str | None) -> Repository:
        """The repository at (or containing) ``path``.

        ``FORBIDDEN_PATH`` when the path, the top of its work tree, its git
        directory or its common directory is outside the roots, or the path is in
        a ``.git`` directory; ``NOT_A_REPOSITORY`` when it is in no work tree.
        """
        real = self.guard.resolve(path)
        return await self.limiter.run("open", lambda: self._open(path, real))

    def _open(self, asked: str | None, real: Path) -> Repository:
        """Blocking."""
        try:
            is_dir = real.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            raise NotARepositoryError(
                f"{shown(asked)} is not a directory", path=asked or ""
            )
        top = find_top(real)
        if top is None:
            raise NotARepositoryError(
                f"{shown(asked)} is not in a git work tree", path=asked or ""
            )
        if not self.guard.contains(top):
            raise ForbiddenPathError(
                f"the repository of {shown(asked)} starts outside the configured roots",
                path=asked or "",
            )
        if any(is_git_component(part) for part in real.relative_to(top).parts):
            raise ForbiddenPathError(
                f"path {shown(asked)} is inside .git, which is never read",
                path=asked or "",
            )
        location = locate(top, self.guard, asked)
        open_repository(location, self.guard, asked).free()
        return Repository(location, asked, self)
