"""Parsers of git's machine-readable outputs (NUL-separated, ``LC_ALL=C``).

``status --porcelain=v2 -z --branch``:
https://git-scm.com/docs/git-status#_porcelain_format_version_2
``log -z --format``: https://git-scm.com/docs/pretty-formats
``diff --numstat -z``: https://git-scm.com/docs/git-diff#_other_diff_formats

Every parser accepts output cut short by the output bound: a record that is not
complete is dropped, never half-read.
"""

from __future__ import annotations

from subgraphs.git.models import (
    Branch,
    Commit,
    DiffFile,
    FileChange,
    Remote,
    Signature,
    Status,
)

__all__ = [
    "LOG_FORMAT",
    "parse_branches",
    "parse_log",
    "parse_numstat",
    "parse_remotes",
    "parse_status",
]

_KINDS = {
    "M": "MODIFIED",
    "T": "TYPE_CHANGED",
    "A": "ADDED",
    "D": "DELETED",
    "R": "RENAMED",
    "C": "COPIED",
}

LOG_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
_LOG_FIELDS = 9


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _complete_fields(data: bytes) -> list[bytes]:
    """NUL-terminated fields; an unterminated tail (output cut short) is dropped."""
    fields = data.split(b"\0")
    # The last element follows the last NUL: empty when the output ended cleanly,
    # a partial field when it was cut.
    fields.pop()
    return fields


def parse_status(data: bytes, truncated: bool = False) -> Status:
    """``git status --porcelain=v2 -z --branch`` -> ``Status``."""
    fields = _complete_fields(data)
    branch: str | None = None
    head: str | None = None
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    staged: list[FileChange] = []
    unstaged: list[FileChange] = []
    untracked: list[FileChange] = []
    conflicted: list[FileChange] = []
    index = 0
    while index < len(fields):
        record = _text(fields[index])
        index += 1
        if record.startswith("# "):
            key, _, value = record[2:].partition(" ")
            if key == "branch.oid":
                head = None if value == "(initial)" else value
            elif key == "branch.head":
                branch = None if value == "(detached)" else value
            elif key == "branch.upstream":
                upstream = value
            elif key == "branch.ab":
                a, _, b = value.partition(" ")
                ahead, behind = abs(int(a)), abs(int(b))
            continue
        kind, _, rest = record.partition(" ")
        if kind == "?":
            untracked.append(FileChange(path=rest, kind="UNTRACKED", code="??"))
        elif kind == "1":
            parts = rest.split(" ", 7)
            if len(parts) == 8:
                _add_change(parts[0], parts[7], None, staged, unstaged)
        elif kind == "2":
            parts = rest.split(" ", 8)
            if index >= len(fields):
                break  # the original path was cut off
            original = _text(fields[index])
            index += 1
            if len(parts) == 9:
                _add_change(parts[0], parts[8], original, staged, unstaged)
        elif kind == "u":
            parts = rest.split(" ", 9)
            if len(parts) == 10:
                conflicted.append(
                    FileChange(path=parts[9], kind="CONFLICTED", code=parts[0])
                )
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
        truncated=truncated,
    )


def _add_change(
    code: str,
    path: str,
    original: str | None,
    staged: list[FileChange],
    unstaged: list[FileChange],
) -> None:
    x, y = code[0], code[1]
    if x != ".":
        staged.append(
            FileChange(
                path=path,
                kind=_KINDS.get(x, "MODIFIED"),
                code=code,
                original_path=original if x in "RC" else None,
            )
        )
    if y != ".":
        unstaged.append(
            FileChange(path=path, kind=_KINDS.get(y, "MODIFIED"), code=code)
        )


def parse_log(data: bytes, truncated: bool = False) -> list[Commit]:
    """``git log -z --format=LOG_FORMAT`` -> commits (no cursors)."""
    fields = _complete_fields(data)
    commits: list[Commit] = []
    for start in range(0, len(fields) - _LOG_FIELDS + 1, _LOG_FIELDS):
        f = [_text(field) for field in fields[start : start + _LOG_FIELDS]]
        commits.append(
            Commit(
                hash=f[0],
                parents=tuple(f[1].split()),
                author=Signature(name=f[2], email=f[3], date=f[4]),
                committer=Signature(name=f[5], email=f[6], date=f[7]),
                message=f[8].rstrip("\n"),
            )
        )
    return commits


def parse_branches(data: bytes) -> list[Branch]:
    """``for-each-ref --format=%(refname:short)%00%(objectname)%00%(upstream:short)%00%(HEAD)``."""
    branches: list[Branch] = []
    for line in _text(data).splitlines():
        parts = line.split("\0")
        if len(parts) != 4:
            continue
        name, commit, upstream, head = parts
        branches.append(
            Branch(
                name=name,
                commit=commit,
                current=head == "*",
                upstream=upstream or None,
            )
        )
    return branches


def parse_remotes(data: bytes) -> list[Remote]:
    """``git config -z --get-regexp ^remote\\..*\\.url$`` -> remotes, first URL each."""
    remotes: dict[str, Remote] = {}
    for entry in _complete_fields(data):
        key, _, url = _text(entry).partition("\n")
        name = key[len("remote.") : -len(".url")]
        if name and name not in remotes:
            remotes[name] = Remote(name=name, url=url)
    return list(remotes.values())


def parse_numstat(data: bytes, truncated: bool = False) -> list[DiffFile]:
    """``git diff --numstat -z`` -> per-file line counts."""
    fields = _complete_fields(data)
    files: list[DiffFile] = []
    index = 0
    while index < len(fields):
        record = _text(fields[index])
        index += 1
        parts = record.split("\t", 2)
        if len(parts) != 3:
            continue
        added, deleted, path = parts
        original: str | None = None
        if not path:  # a rename: the two paths follow as their own fields
            if index + 1 >= len(fields):
                break
            original, path = _text(fields[index]), _text(fields[index + 1])
            index += 2
        files.append(
            DiffFile(
                path=path,
                additions=None if added == "-" else int(added),
                deletions=None if deleted == "-" else int(deleted),
                original_path=original,
            )
        )
    return files
