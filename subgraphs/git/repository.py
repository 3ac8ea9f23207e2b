"""``Repository``: one git work tree read through ``GitRunner``; ``GitService``
opens them, checking the path against the roots first."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from subgraphs.git.errors import (
    BadUserInputError,
    ForbiddenPathError,
    GitCommandError,
    NotARepositoryError,
)
from subgraphs.git.models import (
    Branch,
    Commit,
    DiffFile,
    GitHubRepositoryRef,
    Remote,
    Status,
)
from subgraphs.git.paths import PathGuard, real_path, repository_relative
from subgraphs.git.porcelain import (
    LOG_FORMAT,
    parse_branches,
    parse_log,
    parse_numstat,
    parse_remotes,
    parse_status,
)
from subgraphs.git.remote_url import github_repository
from subgraphs.git.runner import GitOutput, GitRunner

__all__ = [
    "MAX_PAGE",
    "Diff",
    "FileContent",
    "GitService",
    "Repository",
    "decode_cursor",
    "encode_cursor",
]

MAX_PAGE = 100
_BINARY_SNIFF = 8000
_NO_COMMITS = "does not have any commits yet"


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the ``offset``-th commit of a log (0-based)."""
    return base64.urlsafe_b64encode(f"log:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        kind, _, number = text.partition(":")
        offset = int(number)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInputError(f"invalid cursor {cursor!r}") from None
    if kind != "log" or offset < 0:
        raise BadUserInputError(f"invalid cursor {cursor!r}")
    return offset


def _check_first(first: int) -> None:
    if not 0 <= first <= MAX_PAGE:
        raise BadUserInputError(f"'first' must be between 0 and {MAX_PAGE}")


@dataclass(frozen=True, slots=True)
class Diff:
    patch: str
    truncated: bool
    files: tuple[DiffFile, ...]


@dataclass(frozen=True, slots=True)
class FileContent:
    path: str
    rev: str | None
    """The commit read from; ``None`` for the working tree."""
    size: int
    binary: bool
    text: str | None
    truncated: bool


class Repository:
    """A git work tree. Every method runs git (no caching: the tree may change)."""

    def __init__(self, path: Path, git_dir: Path, service: GitService) -> None:
        self.path = path
        self.git_dir = git_dir
        self._service = service

    def __repr__(self) -> str:
        return f"Repository({str(self.path)!r})"

    async def _git(self, *args: str, limit: int | None = None) -> GitOutput:
        return await self._service.runner.run(self.path, *args, limit=limit)

    async def _checked(self, *args: str, limit: int | None = None) -> GitOutput:
        output = await self._git(*args, limit=limit)
        if not output.ok:
            raise GitCommandError(output.error_line())
        return output

    async def current_branch(self) -> str | None:
        output = await self._git("symbolic-ref", "-q", "--short", "HEAD")
        return output.stdout.decode().strip() or None if output.ok else None

    async def head(self) -> Commit | None:
        commits = await self.log(1)
        return commits[0] if commits else None

    async def branches(self) -> list[Branch]:
        output = await self._checked(
            "for-each-ref",
            "--format=%(refname:short)%00%(objectname)%00%(upstream:short)%00%(HEAD)",
            "refs/heads",
        )
        return parse_branches(output.stdout)

    async def remotes(self) -> list[Remote]:
        output = await self._git("config", "-z", "--get-regexp", r"^remote\..*\.url$")
        # Exit status 1: no remote at all.
        if output.returncode == 1 and not output.stdout:
            return []
        if not output.ok:
            raise GitCommandError(output.error_line())
        return parse_remotes(output.stdout)

    async def github(self) -> GitHubRepositoryRef | None:
        """The GitHub repository of the ``origin`` remote, if it is on github.com."""
        for remote in await self.remotes():
            if remote.name == "origin":
                return github_repository(remote.url)
        return None

    async def status(self) -> Status:
        output = await self._checked(
            "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"
        )
        return parse_status(output.stdout, output.truncated)

    async def log(self, first: int = 20, after: str | None = None) -> list[Commit]:
        """Commits reachable from HEAD, newest first: ``first`` after ``after``."""
        _check_first(first)
        offset = 0 if after is None else decode_cursor(after) + 1
        if first == 0:
            return []
        output = await self._git(
            "log", "-z", f"--format={LOG_FORMAT}", f"--skip={offset}", f"-n{first}"
        )
        if not output.ok:
            if _NO_COMMITS in output.stderr:
                return []
            raise GitCommandError(output.error_line())
        return [
            Commit(
                hash=c.hash,
                parents=c.parents,
                author=c.author,
                committer=c.committer,
                message=c.message,
                cursor=encode_cursor(offset + i),
            )
            for i, c in enumerate(parse_log(output.stdout, output.truncated))
        ]

    async def diff(self, staged: bool = False, path: str | None = None) -> Diff:
        """The unstaged (or, with ``staged``, the staged) changes, optionally of one
        path. External diff drivers and textconv filters are never run."""
        options = ["--no-ext-diff", "--no-textconv", "--no-color"]
        if staged:
            options.append("--cached")
        pathspec = ["--"] if path is None else ["--", repository_relative(path)]
        patch, numstat = await asyncio.gather(
            self._checked("diff", *options, *pathspec),
            self._checked("diff", *options, "--numstat", "-z", *pathspec),
        )
        return Diff(
            patch=patch.stdout.decode("utf-8", "replace"),
            truncated=patch.truncated or numstat.truncated,
            files=tuple(parse_numstat(numstat.stdout, numstat.truncated)),
        )

    async def resolve_revision(self, rev: str) -> str:
        """The commit hash ``rev`` names; ``BAD_USER_INPUT`` when it names none."""
        if not rev or rev.startswith("-") or "\0" in rev or ":" in rev:
            raise BadUserInputError(f"invalid revision {rev!r}")
        output = await self._git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
        if not output.ok:
            raise BadUserInputError(f"unknown revision {rev!r}", rev=rev)
        return output.stdout.decode().strip()

    async def file(self, path: str, rev: str | None = None) -> FileContent | None:
        """A file's contents at ``rev``, or in the working tree when ``rev`` is
        ``None``; ``None`` when there is no such file."""
        relative = repository_relative(path)
        if rev is None:
            return await self._worktree_file(relative)
        commit = await self.resolve_revision(rev)
        spec = f"{commit}:{relative}"
        kind = await self._git("cat-file", "-t", spec)
        if not kind.ok:
            return None
        if kind.stdout.strip() != b"blob":
            raise BadUserInputError(f"{path!r} is not a file at {rev}")
        size, blob = await asyncio.gather(
            self._checked("cat-file", "-s", spec),
            self._checked("cat-file", "blob", spec),
        )
        return _content(relative, commit, int(size.stdout), blob.stdout, blob.truncated)

    async def _worktree_file(self, relative: str) -> FileContent | None:
        real = real_path(self.path / relative)
        if not (real == self.path or real.is_relative_to(self.path)) or not (
            self._service.guard.contains(real)
        ):
            raise ForbiddenPathError(
                f"path {relative!r} resolves outside the repository", path=relative
            )
        limit = self._service.runner.max_output_bytes
        try:
            data, size = await asyncio.to_thread(_read_head, real, limit)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise BadUserInputError(f"{relative!r} is a directory") from None
        except OSError as exc:
            raise GitCommandError(f"cannot read {relative!r}: {exc.strerror}") from exc
        return _content(relative, None, size, data, size > len(data))


def _read_head(path: Path, limit: int) -> tuple[bytes, int]:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        return handle.read(limit), size


def _content(
    path: str, rev: str | None, size: int, data: bytes, truncated: bool
) -> FileContent:
    binary = b"\0" in data[:_BINARY_SNIFF]
    return FileContent(
        path=path,
        rev=rev,
        size=size,
        binary=binary,
        text=None if binary else data.decode("utf-8", "replace"),
        truncated=truncated,
    )


class GitService:
    """Opens repositories under the configured roots."""

    def __init__(self, guard: PathGuard, runner: GitRunner) -> None:
        self.guard = guard
        self.runner = runner

    async def open(self, path: str | None) -> Repository:
        """The repository at (or containing) ``path``.

        ``FORBIDDEN_PATH`` when the path, or the top of its work tree, is outside
        the roots; ``NOT_A_REPOSITORY`` when it is in no work tree.
        """
        real = self.guard.resolve(path)
        shown = path or str(real)
        if not real.is_dir():
            raise NotARepositoryError(f"{shown!r} is not a directory", path=shown)
        output = await self.runner.run(
            real, "rev-parse", "--show-toplevel", "--absolute-git-dir"
        )
        lines = output.stdout.decode("utf-8", "replace").splitlines()
        if not output.ok or len(lines) != 2:
            raise NotARepositoryError(
                f"{shown!r} is not in a git work tree", path=shown
            )
        top = real_path(lines[0])
        if not self.guard.contains(top):
            raise ForbiddenPathError(
                f"the repository of {shown!r} starts outside the configured roots",
                path=shown,
            )
        return Repository(top, Path(lines[1]), self)
