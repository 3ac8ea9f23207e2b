"""Values the git subgraph resolves: what git printed, parsed into frozen records."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Branch",
    "Commit",
    "DiffFile",
    "FileChange",
    "GitHubRepositoryRef",
    "Remote",
    "SessionRef",
    "Signature",
    "Status",
]


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    email: str
    date: str
    """ISO 8601 with the author's or committer's offset."""


@dataclass(frozen=True, slots=True)
class Commit:
    hash: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str
    cursor: str = ""

    @property
    def short_hash(self) -> str:
        return self.hash[:7]

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def date(self) -> str:
        return self.author.date


@dataclass(frozen=True, slots=True)
class Branch:
    name: str
    commit: str
    current: bool
    upstream: str | None


@dataclass(frozen=True, slots=True)
class Remote:
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    kind: str
    """A ``ChangeKind`` value."""
    code: str
    """The two-letter ``XY`` code of ``git status --porcelain=v2``."""
    original_path: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    branch: str | None
    head: str | None
    upstream: str | None
    ahead: int | None
    behind: int | None
    staged: tuple[FileChange, ...]
    unstaged: tuple[FileChange, ...]
    untracked: tuple[FileChange, ...]
    conflicted: tuple[FileChange, ...]
    truncated: bool

    @property
    def clean(self) -> bool:
        return not (self.staged or self.unstaged or self.untracked or self.conflicted)


@dataclass(frozen=True, slots=True)
class DiffFile:
    path: str
    additions: int | None
    """``None`` for a binary file."""
    deletions: int | None
    original_path: str | None = None


@dataclass(frozen=True, slots=True)
class GitHubRepositoryRef:
    """The key of the github subgraph's ``GitHubRepository`` entity."""

    owner: str
    name: str


@dataclass(frozen=True, slots=True)
class SessionRef:
    """The claude subgraph's ``Session`` entity, as far as this subgraph knows it."""

    id: str
    working_directory: str
