"""GitHub REST JSON shapes (TypedDicts) and the values resolvers return.

Shapes follow https://docs.github.com/en/rest (repos, issues, pulls, issue
comments), reduced to the fields this subgraph reads. ``parse_*`` turn one JSON
object into a frozen value, once, at the edge, reading each field with ``get``: a
field GitHub left out (or sent with the wrong type) is ``None``, never a failure
of the whole object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, TypeVar

from subgraphs.github.errors import UpstreamError

T = TypeVar("T")

__all__ = [
    "Comment",
    "CommentJSON",
    "GitHubUser",
    "Issue",
    "IssueJSON",
    "PullRequest",
    "PullRequestJSON",
    "RepoDetails",
    "RepoJSON",
    "UserJSON",
    "parse_comment",
    "parse_issue",
    "parse_pull_request",
    "parse_repo",
]


class UserJSON(TypedDict):
    login: str
    html_url: str


class RepoJSON(TypedDict):
    name: str
    full_name: str
    owner: UserJSON
    description: str | None
    html_url: str
    default_branch: str
    stargazers_count: int
    forks_count: int
    open_issues_count: int
    private: bool


class LabelJSON(TypedDict):
    name: str


class IssueJSON(TypedDict):
    number: int
    title: str
    body: str | None
    state: str
    user: UserJSON | None
    html_url: str
    labels: list[LabelJSON | str]
    comments: int
    created_at: str
    updated_at: str
    closed_at: str | None
    pull_request: NotRequired[dict[str, Any]]


class BranchRefJSON(TypedDict):
    ref: str


class PullRequestJSON(TypedDict):
    number: int
    title: str
    state: str
    draft: NotRequired[bool]
    user: UserJSON | None
    html_url: str
    head: BranchRefJSON
    base: BranchRefJSON
    created_at: str
    updated_at: str
    merged_at: str | None


class CommentJSON(TypedDict):
    id: int
    body: str | None
    user: UserJSON | None
    html_url: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class GitHubUser:
    login: str
    url: str | None


# Every value GitHub sends may be missing (GitHub-compatible APIs leave fields
# out): ``None`` here. The schema's resolvers decide, field by field, whether a
# missing value is null or an error, so only a field the client selected can fail.


@dataclass(frozen=True, slots=True)
class RepoDetails:
    full_name: str | None
    description: str | None
    url: str | None
    default_branch: str | None
    stars: int | None
    forks: int | None
    open_issues_count: int | None
    private: bool | None


@dataclass(frozen=True, slots=True)
class Issue:
    owner: str
    name: str
    number: int | None
    title: str | None
    body: str | None
    state: str | None
    author: GitHubUser | None
    url: str | None
    labels: tuple[str, ...] | None
    comment_count: int | None
    created_at: str | None
    updated_at: str | None
    closed_at: str | None
    cursor: str = ""


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int | None
    title: str | None
    state: str | None
    draft: bool
    author: GitHubUser | None
    url: str | None
    head_ref: str | None
    base_ref: str | None
    created_at: str | None
    updated_at: str | None
    merged_at: str | None
    cursor: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    id: str | None
    body: str
    author: GitHubUser | None
    url: str | None
    created_at: str | None
    updated_at: str | None
    cursor: str = ""


def _object(data: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise UpstreamError(f"GitHub sent a {kind} that is not an object")
    return data


def _of(value: Any, kind: type[T]) -> T | None:
    """``value`` when it has the expected type (``bool`` is no ``int``), else
    ``None``: a value of the wrong type is as good as a missing one."""
    if isinstance(value, bool) and kind is not bool:
        return None
    return value if isinstance(value, kind) else None


def _user(data: Any) -> GitHubUser | None:
    """``None`` for a deleted account ("ghost") or a user without a login."""
    if not isinstance(data, Mapping):
        return None
    login = _of(data.get("login"), str)
    if login is None:
        return None
    return GitHubUser(login=login, url=_of(data.get("html_url"), str))


def _state(data: Mapping[str, Any]) -> str | None:
    state = _of(data.get("state"), str)
    return state.upper() if state else None


def _ref(data: Mapping[str, Any], key: str) -> str | None:
    branch = data.get(key)
    return _of(branch.get("ref"), str) if isinstance(branch, Mapping) else None


def _labels(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    names = (
        label if isinstance(label, str) else _of(label.get("name"), str)
        for label in value
        if isinstance(label, str | Mapping)
    )
    return tuple(name for name in names if name is not None)


def parse_repo(data: RepoJSON | Any) -> RepoDetails:
    repo = _object(data, "repository")
    return RepoDetails(
        full_name=_of(repo.get("full_name"), str),
        description=_of(repo.get("description"), str),
        url=_of(repo.get("html_url"), str),
        default_branch=_of(repo.get("default_branch"), str),
        stars=_of(repo.get("stargazers_count"), int),
        forks=_of(repo.get("forks_count"), int),
        open_issues_count=_of(repo.get("open_issues_count"), int),
        private=_of(repo.get("private"), bool),
    )


def parse_issue(
    owner: str, name: str, data: IssueJSON | Any, cursor: str = ""
) -> Issue:
    issue = _object(data, "issue")
    return Issue(
        owner=owner,
        name=name,
        number=_of(issue.get("number"), int),
        title=_of(issue.get("title"), str),
        body=_of(issue.get("body"), str),
        state=_state(issue),
        author=_user(issue.get("user")),
        url=_of(issue.get("html_url"), str),
        labels=_labels(issue.get("labels")),
        comment_count=_of(issue.get("comments"), int),
        created_at=_of(issue.get("created_at"), str),
        updated_at=_of(issue.get("updated_at"), str),
        closed_at=_of(issue.get("closed_at"), str),
        cursor=cursor,
    )


def parse_pull_request(data: PullRequestJSON | Any, cursor: str = "") -> PullRequest:
    pull = _object(data, "pull request")
    merged_at = _of(pull.get("merged_at"), str)
    return PullRequest(
        number=_of(pull.get("number"), int),
        title=_of(pull.get("title"), str),
        state="MERGED" if merged_at is not None else _state(pull),
        draft=bool(pull.get("draft", False)),
        author=_user(pull.get("user")),
        url=_of(pull.get("html_url"), str),
        head_ref=_ref(pull, "head"),
        base_ref=_ref(pull, "base"),
        created_at=_of(pull.get("created_at"), str),
        updated_at=_of(pull.get("updated_at"), str),
        merged_at=merged_at,
        cursor=cursor,
    )


def parse_comment(data: CommentJSON | Any, cursor: str = "") -> Comment:
    comment = _object(data, "comment")
    identifier = comment.get("id")
    return Comment(
        id=None
        if identifier is None or isinstance(identifier, bool)
        else str(identifier),
        body=_of(comment.get("body"), str) or "",
        author=_user(comment.get("user")),
        url=_of(comment.get("html_url"), str),
        created_at=_of(comment.get("created_at"), str),
        updated_at=_of(comment.get("updated_at"), str),
        cursor=cursor,
    )
