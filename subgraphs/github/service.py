"""``GitHubService``: the repository, issue and pull-request operations the schema
offers, over ``GitHubClient``; ``RepositoryHandle`` is a repository known by its
key, whose details are fetched once, when first asked for."""

from __future__ import annotations

import asyncio
from typing import Any

from subgraphs.github.client import GitHubClient, repo_path
from subgraphs.github.errors import BadUserInputError, UpstreamError
from subgraphs.github.models import (
    Comment,
    Issue,
    PullRequest,
    RepoDetails,
    parse_comment,
    parse_issue,
    parse_pull_request,
    parse_repo,
)

__all__ = ["GitHubService", "RepositoryHandle"]

_STATES = {"OPEN": "open", "CLOSED": "closed", "ALL": "all"}


def _state(state: str) -> str:
    try:
        return _STATES[state]
    except KeyError:
        raise BadUserInputError(f"unknown state {state!r}") from None


def _object(value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise UpstreamError(f"GitHub answered with no {what} object")
    return value


class RepositoryHandle:
    """``GitHubRepository`` as resolvers see it: the key now, details on demand."""

    def __init__(self, service: GitHubService, owner: str, name: str) -> None:
        repo_path(owner, name)  # validates both names
        self.service = service
        self.owner = owner
        self.name = name
        self._details: asyncio.Task[RepoDetails] | None = None

    async def details(self) -> RepoDetails:
        if self._details is None:
            self._details = asyncio.ensure_future(
                self.service.repository(self.owner, self.name)
            )
        return await asyncio.shield(self._details)


class GitHubService:
    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    def handle(self, owner: str, name: str) -> RepositoryHandle:
        return RepositoryHandle(self, owner, name)

    async def repository(self, owner: str, name: str) -> RepoDetails:
        data = await self.client.get(repo_path(owner, name))
        return parse_repo(_object(data, "repository"))

    async def issues(
        self, owner: str, name: str, state: str, first: int, after: str | None
    ) -> list[Issue]:
        """Issues only: GitHub's issues list also has pull requests (the entries
        with ``pull_request``); they are left out."""
        found = await self.client.list(
            repo_path(owner, name, "issues"),
            {"state": _state(state)},
            first=first,
            after=after,
            keep=lambda item: isinstance(item, dict) and "pull_request" not in item,
        )
        return [parse_issue(owner, name, item, cursor) for item, cursor in found]

    async def pull_requests(
        self, owner: str, name: str, state: str, first: int, after: str | None
    ) -> list[PullRequest]:
        found = await self.client.list(
            repo_path(owner, name, "pulls"),
            {"state": _state(state)},
            first=first,
            after=after,
            keep=lambda item: isinstance(item, dict),
        )
        return [parse_pull_request(item, cursor) for item, cursor in found]

    async def issue(self, owner: str, name: str, number: int) -> Issue:
        if number < 1:
            raise BadUserInputError("an issue number is positive")
        data = await self.client.get(repo_path(owner, name, "issues", number))
        return parse_issue(owner, name, _object(data, "issue"))

    async def comments(
        self, owner: str, name: str, number: int, first: int, after: str | None
    ) -> list[Comment]:
        found = await self.client.list(
            repo_path(owner, name, "issues", number, "comments"),
            {},
            first=first,
            after=after,
            keep=lambda item: isinstance(item, dict),
        )
        return [parse_comment(item, cursor) for item, cursor in found]

    async def create_issue(
        self,
        owner: str,
        name: str,
        title: str,
        body: str | None = None,
        labels: list[str] | None = None,
    ) -> Issue:
        if not title.strip():
            raise BadUserInputError("an issue needs a title")
        payload: dict[str, Any] = {"title": title}
        if body is not None:
            payload["body"] = body
        if labels:
            payload["labels"] = list(labels)
        data = await self.client.post(repo_path(owner, name, "issues"), payload)
        return parse_issue(owner, name, _object(data, "issue"))

    async def add_comment(
        self, owner: str, name: str, number: int, body: str
    ) -> Comment:
        if not body.strip():
            raise BadUserInputError("a comment needs a body")
        if number < 1:
            raise BadUserInputError("an issue number is positive")
        data = await self.client.post(
            repo_path(owner, name, "issues", number, "comments"), {"body": body}
        )
        return parse_comment(_object(data, "comment"))
