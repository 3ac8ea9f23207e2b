"""GitHub REST JSON shapes (TypedDicts) and the values resolvers return.

Shapes follow https://docs.github.com/en/rest (repos, issues, pulls, issue
comments), reduced to the fields this subgraph reads. ``parse_*`` turn one JSON
object into a frozen value, once, at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from subgraphs.github.errors import UpstreamError

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
    url: str


@dataclass(frozen=True, slots=True)
class RepoDetails:
    full_name: str
    description: str | None
    url: str
    default_branch: str
    stars: int
    forks: int
    open_issues_count: int
    private: bool


@dataclass(frozen=True, slots=True)
class Issue:
    owner: str
    name: str
    number: int
    title: str
    body: str | None
    state: str
    author: GitHubUser | None
    url: str
    labels: tuple[str, ...]
    comment_count: int
    created_at: str
    updated_at: str
    closed_at: str | None
    cursor: str = ""


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    title: str
    state: str
    draft: bool
    author: GitHubUser | None
    url: str
    head_ref: str
    base_ref: str
    created_at: str
    updated_at: str
    merged_at: str | None
    cursor: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    body: str
    author: GitHubUser | None
    url: str
    created_at: str
    updated_at: str
    cursor: str = ""


def _user(data: UserJSON | None) -> GitHubUser | None:
    if data is None:
        return None  # a deleted account ("ghost")
    return GitHubUser(login=data["login"], url=data["html_url"])


def _shape_error(kind: str, exc: Exception) -> UpstreamError:
    return UpstreamError(f"GitHub sent an unexpected {kind} object ({exc!r})")


def parse_repo(data: RepoJSON) -> RepoDetails:
    try:
        return RepoDetails(
            full_name=data["full_name"],
            description=data["description"],
            url=data["html_url"],
            default_branch=data["default_branch"],
            stars=data["stargazers_count"],
            forks=data["forks_count"],
            open_issues_count=data["open_issues_count"],
            private=data["private"],
        )
    except (KeyError, TypeError) as exc:
        raise _shape_error("repository", exc) from exc


def parse_issue(owner: str, name: str, data: IssueJSON, cursor: str = "") -> Issue:
    try:
        return Issue(
            owner=owner,
            name=name,
            number=data["number"],
            title=data["title"],
            body=data["body"],
            state=data["state"].upper(),
            author=_user(data["user"]),
            url=data["html_url"],
            labels=tuple(
                label if isinstance(label, str) else label["name"]
                for label in data["labels"]
            ),
            comment_count=data["comments"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            closed_at=data["closed_at"],
            cursor=cursor,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _shape_error("issue", exc) from exc


def parse_pull_request(data: PullRequestJSON, cursor: str = "") -> PullRequest:
    try:
        merged = data["merged_at"] is not None
        return PullRequest(
            number=data["number"],
            title=data["title"],
            state="MERGED" if merged else data["state"].upper(),
            draft=bool(data.get("draft", False)),
            author=_user(data["user"]),
            url=data["html_url"],
            head_ref=data["head"]["ref"],
            base_ref=data["base"]["ref"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            merged_at=data["merged_at"],
            cursor=cursor,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _shape_error("pull request", exc) from exc


def parse_comment(data: CommentJSON, cursor: str = "") -> Comment:
    try:
        return Comment(
            id=str(data["id"]),
            body=data["body"] or "",
            author=_user(data["user"]),
            url=data["html_url"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            cursor=cursor,
        )
    except (KeyError, TypeError) as exc:
        raise _shape_error("comment", exc) from exc
