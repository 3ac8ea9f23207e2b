"""What the schema asks of a repository, read with libgit2 into frozen records.

Each function takes an open ``pygit2.Repository`` and runs in a worker thread
(``GitLimiter``). Nothing here writes to the repository: status and diff never
refresh the index. Answers are bounded by ``limit`` bytes (file text, patch, the
paths of a status) and say when they were cut.

The status codes are those of ``git status --porcelain=v2``:
https://git-scm.com/docs/git-status#_porcelain_format_version_2
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, FileStatus, ReferenceType, SortMode

from subgraphs.git.errors import BadUserInputError, GitCommandError
from subgraphs.git.models import (
    Branch,
    Commit,
    DiffFile,
    FileChange,
    Remote,
    Signature,
    Status,
)
from subgraphs.git.remote_url import without_credentials

__all__ = [
    "BINARY_SNIFF",
    "Diff",
    "FileContent",
    "content",
    "read_blob",
    "read_branches",
    "read_current_branch",
    "read_diff",
    "read_log",
    "read_remotes",
    "read_status",
    "resolve_commit",
]

BINARY_SNIFF = 8000
"""Bytes looked at for a NUL to call a file binary (git's own heuristic)."""
_LOCAL = "refs/heads/"
_REMOTE_URL = re.compile(r"^remote\.(?P<name>.+)\.url$")
_STAGED = (
    (FileStatus.INDEX_NEW, "A"),
    (FileStatus.INDEX_MODIFIED, "M"),
    (FileStatus.INDEX_DELETED, "D"),
    (FileStatus.INDEX_RENAMED, "R"),
    (FileStatus.INDEX_TYPECHANGE, "T"),
)
_UNSTAGED = (
    (FileStatus.WT_MODIFIED, "M"),
    (FileStatus.WT_DELETED, "D"),
    (FileStatus.WT_RENAMED, "R"),
    (FileStatus.WT_TYPECHANGE, "T"),
)
_KINDS = {
    "M": "MODIFIED",
    "T": "TYPE_CHANGED",
    "A": "ADDED",
    "D": "DELETED",
    "R": "RENAMED",
    "C": "COPIED",
}
_ENTRY_OVERHEAD = 24
"""What one listed path costs beyond its bytes, against the ``limit``."""


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


def content(
    path: str, rev: str | None, size: int, data: bytes, truncated: bool
) -> FileContent:
    binary = b"\0" in data[:BINARY_SNIFF]
    return FileContent(
        path=path,
        rev=rev,
        size=size,
        binary=binary,
        text=None if binary else data.decode("utf-8", "replace"),
        truncated=truncated,
    )


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _short(ref: str) -> str:
    for prefix in (_LOCAL, "refs/remotes/", "refs/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def read_current_branch(repo: pygit2.Repository) -> str | None:
    """The branch HEAD points at (born or not); ``None`` when detached."""
    head = repo.lookup_reference("HEAD")
    if head.type != ReferenceType.SYMBOLIC:
        return None
    target = head.target
    assert isinstance(target, str)
    return target[len(_LOCAL) :] if target.startswith(_LOCAL) else target


def _upstream(repo: pygit2.Repository, name: str) -> str | None:
    """``refs/remotes/origin/main`` for a branch that tracks one, by its config."""
    branch = repo.branches.local.get(name)
    if branch is None:
        return None
    try:
        return str(branch.upstream_name)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def read_branches(repo: pygit2.Repository) -> list[Branch]:
    """Local branches by name, as ``git for-each-ref refs/heads`` lists them."""
    current = None if repo.head_is_detached else read_current_branch(repo)
    branches: list[Branch] = []
    for name in sorted(repo.branches.local):
        reference = repo.references.get(_LOCAL + name)
        if reference is None:
            continue
        upstream = _upstream(repo, name)
        branches.append(
            Branch(
                name=name,
                commit=str(reference.resolve().target),
                current=name == current,
                upstream=_short(upstream) if upstream else None,
            )
        )
    return branches


def read_remotes(repo: pygit2.Repository) -> list[Remote]:
    """Remotes in configuration order, the first URL of each (never its password
    or token)."""
    remotes: dict[str, Remote] = {}
    for entry in repo.config:
        match = _REMOTE_URL.match(entry.name)
        if match is None or entry.value is None:
            continue
        name = match["name"]
        if name not in remotes:
            remotes[name] = Remote(name=name, url=without_credentials(entry.value))
    return list(remotes.values())


def _signature(signature: pygit2.Signature) -> Signature:
    zone = (
        UTC if signature.offset == 0 else timezone(timedelta(minutes=signature.offset))
    )
    moment = datetime.fromtimestamp(signature.time, zone)
    return Signature(
        name=_text(signature.raw_name),
        email=_text(signature.raw_email),
        date=moment.isoformat(),
    )


def _commit(commit: pygit2.Commit, cursor: str) -> Commit:
    return Commit(
        hash=str(commit.id),
        parents=tuple(str(parent) for parent in commit.parent_ids),
        author=_signature(commit.author),
        committer=_signature(commit.committer),
        message=_text(commit.raw_message).rstrip("\n"),
        cursor=cursor,
    )


def read_log(
    repo: pygit2.Repository, offset: int, first: int, cursor: Callable[[int], str]
) -> list[Commit]:
    """Commits reachable from HEAD, newest first (``git log --date-order``):
    ``first`` of them after skipping ``offset``; ``cursor(n)`` marks the n-th."""
    if first == 0 or repo.head_is_unborn:
        return []
    walker = repo.walk(repo.head.target, SortMode.TOPOLOGICAL | SortMode.TIME)
    page = itertools.islice(walker, offset, offset + first)
    return [_commit(commit, cursor(offset + i)) for i, commit in enumerate(page)]


_CONFLICT_CODES = {
    (True, True, True): "UU",
    (False, True, True): "AA",
    (True, False, False): "DD",
    (False, True, False): "AU",
    (False, False, True): "UA",
    (True, False, True): "DU",
    (True, True, False): "UD",
}
"""(ancestor, ours, theirs present) -> the porcelain v2 code of an unmerged path."""


def _conflict_code(repo: pygit2.Repository, path: str) -> str:
    """``UU``, ``AA``, ``DD``, ``AU``, ``UA``, ``DU`` or ``UD`` from the index's
    three stages of ``path``."""
    conflicts = repo.index.conflicts
    if conflicts is None:
        return "UU"
    try:
        ancestor, ours, theirs = conflicts[path]
    except KeyError:
        return "UU"
    stages = (ancestor is not None, ours is not None, theirs is not None)
    return _CONFLICT_CODES.get(stages, "UU")


def _staged_renames(repo: pygit2.Repository) -> dict[str, str]:
    """New path -> original path of the renames between HEAD and the index."""
    if repo.head_is_unborn:
        return {}
    diff = repo.diff("HEAD", cached=True)
    diff.find_similar(DiffFind.FIND_RENAMES)
    return {
        delta.new_file.path: delta.old_file.path
        for delta in diff.deltas
        if delta.status == DeltaStatus.RENAMED
    }


class _Budget:
    """Bytes left for one answer."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.exceeded = False

    def take(self, cost: int) -> bool:
        if self.exceeded or cost > self.left:
            self.exceeded = True
            return False
        self.left -= cost
        return True


def _branch_header(
    repo: pygit2.Repository,
) -> tuple[str | None, str | None, str | None, int | None, int | None]:
    branch = None if repo.head_is_detached else read_current_branch(repo)
    head = None if repo.head_is_unborn else str(repo.head.target)
    upstream = _upstream(repo, branch) if branch is not None else None
    ahead = behind = None
    if upstream is not None and head is not None:
        reference = repo.references.get(upstream)
        if reference is not None:
            ahead, behind = repo.ahead_behind(
                repo.head.target, reference.resolve().target
            )
    return branch, head, _short(upstream) if upstream else None, ahead, behind


def read_status(repo: pygit2.Repository, limit: int) -> Status:
    """``git status --porcelain=v2 --untracked-files=all``, as records."""
    branch, head, upstream, ahead, behind = _branch_header(repo)
    flags = repo.status(untracked_files="all", ignored=False)
    deleted = any(f & FileStatus.INDEX_DELETED for f in flags.values())
    added = any(f & FileStatus.INDEX_NEW for f in flags.values())
    renames = _staged_renames(repo) if deleted and added else {}
    renamed_from = set(renames.values())
    staged: list[FileChange] = []
    unstaged: list[FileChange] = []
    untracked: list[FileChange] = []
    conflicted: list[FileChange] = []
    budget = _Budget(limit)
    for path in sorted(flags):
        flag = flags[path]
        if flag & FileStatus.IGNORED:
            continue
        original = renames.get(path)
        if not budget.take(len(path.encode()) + len(original or "") + _ENTRY_OVERHEAD):
            break
        if flag & FileStatus.CONFLICTED:
            conflicted.append(
                FileChange(
                    path=path, kind="CONFLICTED", code=_conflict_code(repo, path)
                )
            )
            continue
        if flag & FileStatus.WT_NEW and not flag & ~FileStatus.WT_NEW:
            untracked.append(FileChange(path=path, kind="UNTRACKED", code="??"))
            continue
        if path in renamed_from and flag == FileStatus.INDEX_DELETED:
            continue  # listed under its new path
        x = "R" if original else next((c for f, c in _STAGED if flag & f), ".")
        y = next((c for f, c in _UNSTAGED if flag & f), ".")
        code = x + y
        if x != ".":
            staged.append(
                FileChange(path=path, kind=_KINDS[x], code=code, original_path=original)
            )
        if y != ".":
            unstaged.append(FileChange(path=path, kind=_KINDS[y], code=code))
    return Status(
        branch=branch,
        head=head,
        upstream=upstream,
        ahead=ahead,
        behind=behind,
        staged=tuple(staged),
        unstaged=tuple(unstaged),
        untracked=tuple(untracked),
        conflicted=tuple(conflicted),
        truncated=budget.exceeded,
    )


def _in_scope(prefix: str | None, *paths: str | None) -> bool:
    if prefix is None or prefix == ".":
        return True
    return any(
        path is not None and (path == prefix or path.startswith(prefix + "/"))
        for path in paths
    )


def _patches(repo: pygit2.Repository, staged: bool) -> Iterator[pygit2.Patch]:
    if not staged:
        yield from _present(repo.diff())
        return
    if repo.head_is_unborn:
        # Everything in the index is new; there is no tree to diff against (and
        # writing the empty tree would write to the repository).
        for entry in repo.index:
            blob = repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            patch = pygit2.Patch.create_from(
                None, blob, old_as_path=entry.path, new_as_path=entry.path
            )
            if patch is not None:
                yield patch
        return
    diff = repo.diff("HEAD", cached=True)
    diff.find_similar(DiffFind.FIND_RENAMES)
    yield from _present(diff)


def _present(diff: pygit2.Diff) -> Iterator[pygit2.Patch]:
    for patch in diff:
        if patch is not None:
            yield patch


def read_diff(
    repo: pygit2.Repository, staged: bool, prefix: str | None, limit: int
) -> Diff:
    """The unstaged (index to working tree) or staged (HEAD to index) changes
    under ``prefix``: a unified patch cut at ``limit`` bytes, and line counts."""
    text: list[str] = []
    files: list[DiffFile] = []
    patch_budget = _Budget(limit)
    files_budget = _Budget(limit)
    for patch in _patches(repo, staged):
        delta = patch.delta
        new, old = delta.new_file.path, delta.old_file.path
        if not _in_scope(prefix, new, old):
            continue
        if not patch_budget.exceeded:
            data = (patch.text or "").encode("utf-8", "surrogateescape")
            if patch_budget.take(len(data)):
                text.append(data.decode("utf-8", "replace"))
            else:
                cut = data[: patch_budget.left].decode("utf-8", "ignore")
                text.append(cut)
        renamed = delta.status in (DeltaStatus.RENAMED, DeltaStatus.COPIED)
        if not files_budget.take(len(new.encode()) + _ENTRY_OVERHEAD):
            continue
        _, additions, deletions = patch.line_stats
        binary = delta.is_binary
        files.append(
            DiffFile(
                path=new,
                additions=None if binary else additions,
                deletions=None if binary else deletions,
                original_path=old if renamed else None,
            )
        )
    return Diff(
        patch="".join(text),
        truncated=patch_budget.exceeded or files_budget.exceeded,
        files=tuple(files),
    )


def resolve_commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    """The commit ``rev`` names; ``BAD_USER_INPUT`` when it names none."""
    try:
        found = repo.revparse_single(rev)
        commit = found.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise BadUserInputError(f"unknown revision {rev!r}", rev=rev) from None
    assert isinstance(commit, pygit2.Commit)
    return commit


def read_blob(
    repo: pygit2.Repository, rev: str, relative: str, shown_path: str, limit: int
) -> FileContent | None:
    """``relative`` at ``rev``; ``None`` when the commit has no such path."""
    commit = resolve_commit(repo, rev)
    try:
        entry = commit.tree[relative]
    except KeyError:
        return None
    if entry.type_str != "blob":
        raise BadUserInputError(f"{shown_path} is not a file at {rev}")
    try:
        blob = repo[entry.id]
    except KeyError:
        # A partial clone without this object: libgit2 never fetches it.
        raise GitCommandError(
            f"the contents of {shown_path} at {rev} are not in the repository "
            "(a partial clone is never fetched from)"
        ) from None
    assert isinstance(blob, pygit2.Blob)
    data = blob.data
    return content(relative, str(commit.id), blob.size, data[:limit], blob.size > limit)
