"""The github subgraph's GraphQL types (ariadne-graphql-modules) and resolvers.

Lists take ``first`` (0..100) and ``after`` (an item's ``cursor``), the same way
as the git subgraph's ``log``; a ``null`` or out-of-range ``first`` is
``BAD_USER_INPUT`` here, at the schema's edge.

A value GitHub's answer left out is ``null`` for a nullable field and an
``UPSTREAM_ERROR`` at a non-null field, and only when that field is selected: the
rest of the object still resolves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ariadne_graphql_modules import (
    EnumType,
    InputType,
    MutationType,
    ObjectType,
    convert_case,
)
from graphql import GraphQLResolveInfo

from gateway.transports.base import RequestContext
from subgraphs.federation import federation_directives
from subgraphs.github.errors import BadUserInputError, UpstreamError
from subgraphs.github.models import Comment, Issue, PullRequest
from subgraphs.github.pagination import page_size
from subgraphs.github.service import GitHubService, RepositoryHandle

__all__ = ["ROOT_TYPES", "GitHubContext", "resolve_repository_reference"]


@dataclass(frozen=True, slots=True)
class GitHubContext:
    """The resolvers' ``context_value``."""

    service: GitHubService
    request: RequestContext


def _service(info: GraphQLResolveInfo) -> GitHubService:
    context = info.context
    assert isinstance(context, GitHubContext)
    return context.service


def _missing(what: str) -> UpstreamError:
    return UpstreamError(f"GitHub's answer has no {what}")


def _required(attribute: str, what: str) -> Callable[[Any, GraphQLResolveInfo], Any]:
    """The resolver of a non-null field read from a parsed value."""

    def resolve(value: Any, _info: GraphQLResolveInfo) -> Any:
        found = getattr(value, attribute)
        if found is None:
            raise _missing(what)
        return found

    return resolve


def _detail(
    attribute: str, what: str, *, required: bool = True
) -> Callable[[RepositoryHandle, GraphQLResolveInfo], Awaitable[Any]]:
    """The resolver of a repository field that needs the repository's details."""

    async def resolve(repo: RepositoryHandle, _info: GraphQLResolveInfo) -> Any:
        found = getattr(await repo.details(), attribute)
        if found is None and required:
            raise _missing(what)
        return found

    return resolve


class StateFilterEnum(EnumType):
    __schema__ = """
    "Which issues or pull requests a list holds."
    enum StateFilter {
      OPEN
      CLOSED
      ALL
    }
    """


class IssueStateEnum(EnumType):
    __schema__ = """
    enum IssueState {
      OPEN
      CLOSED
    }
    """


class PullRequestStateEnum(EnumType):
    __schema__ = """
    enum PullRequestState {
      OPEN
      CLOSED
      MERGED
    }
    """


class GitHubUserType(ObjectType):
    __schema__ = """
    type GitHubUser {
      login: String!
      url: String!
    }
    """
    resolve_url = staticmethod(_required("url", "html_url of a user"))


class IssueCommentType(ObjectType):
    __schema__ = """
    type IssueComment {
      id: ID!
      body: String!
      "null for a deleted account."
      author: GitHubUser
      url: String!
      createdAt: String!
      updatedAt: String!
      "Pass it as after: to continue after this comment."
      cursor: String!
    }
    """
    __requires__ = [GitHubUserType]
    __aliases__ = convert_case
    resolve_id = staticmethod(_required("id", "id of a comment"))
    resolve_url = staticmethod(_required("url", "html_url of a comment"))
    resolve_created_at = staticmethod(_required("created_at", "created_at"))
    resolve_updated_at = staticmethod(_required("updated_at", "updated_at"))


class IssueType(ObjectType):
    __schema__ = """
    type Issue {
      number: Int!
      title: String!
      body: String
      state: IssueState!
      "null for a deleted account."
      author: GitHubUser
      url: String!
      labels: [String!]!
      commentCount: Int!
      createdAt: String!
      updatedAt: String!
      closedAt: String
      comments(first: Int = 20, after: String): [IssueComment!]!
      "Pass it as after: to continue after this issue."
      cursor: String!
    }
    """
    __requires__ = [IssueStateEnum, GitHubUserType, IssueCommentType]
    __aliases__ = convert_case
    resolve_number = staticmethod(_required("number", "number of an issue"))
    resolve_title = staticmethod(_required("title", "title of an issue"))
    resolve_state = staticmethod(_required("state", "state of an issue"))
    resolve_url = staticmethod(_required("url", "html_url of an issue"))
    resolve_labels = staticmethod(_required("labels", "labels of an issue"))
    resolve_comment_count = staticmethod(_required("comment_count", "comments count"))
    resolve_created_at = staticmethod(_required("created_at", "created_at"))
    resolve_updated_at = staticmethod(_required("updated_at", "updated_at"))

    @staticmethod
    async def resolve_comments(
        issue: Issue,
        info: GraphQLResolveInfo,
        first: int | None = 20,
        after: str | None = None,
    ) -> list[Comment]:
        size = page_size(first)
        if issue.number is None:
            raise _missing("number of an issue")
        return await _service(info).comments(
            issue.owner, issue.name, issue.number, size, after
        )


class PullRequestType(ObjectType):
    __schema__ = """
    type PullRequest {
      number: Int!
      title: String!
      state: PullRequestState!
      draft: Boolean!
      "null for a deleted account."
      author: GitHubUser
      url: String!
      "The branch the changes come from."
      headRef: String!
      "The branch they go into."
      baseRef: String!
      createdAt: String!
      updatedAt: String!
      mergedAt: String
      "Pass it as after: to continue after this pull request."
      cursor: String!
    }
    """
    __requires__ = [PullRequestStateEnum, GitHubUserType]
    __aliases__ = convert_case
    resolve_number = staticmethod(_required("number", "number of a pull request"))
    resolve_title = staticmethod(_required("title", "title of a pull request"))
    resolve_state = staticmethod(_required("state", "state of a pull request"))
    resolve_url = staticmethod(_required("url", "html_url of a pull request"))
    resolve_head_ref = staticmethod(_required("head_ref", "head.ref"))
    resolve_base_ref = staticmethod(_required("base_ref", "base.ref"))
    resolve_created_at = staticmethod(_required("created_at", "created_at"))
    resolve_updated_at = staticmethod(_required("updated_at", "updated_at"))


class GitHubRepositoryType(ObjectType):
    __schema__ = """
    type GitHubRepository @key(fields: "owner name") {
      owner: String!
      name: String!
      "owner/name as GitHub spells it."
      fullName: String!
      description: String
      url: String!
      defaultBranch: String!
      stars: Int!
      forks: Int!
      "GitHub's count: open issues and open pull requests together."
      openIssuesCount: Int!
      private: Boolean!
      "Issues only (pull requests left out), newest first."
      issues(state: StateFilter = OPEN, first: Int = 20, after: String): [Issue!]!
      "Newest first."
      pullRequests(
        state: StateFilter = OPEN
        first: Int = 20
        after: String
      ): [PullRequest!]!
      "One issue (or pull request, which GitHub also counts as an issue)."
      issue(number: Int!): Issue
    }
    """
    __requires__ = [
        StateFilterEnum,
        IssueType,
        PullRequestType,
        *federation_directives("key"),
    ]
    __aliases__ = convert_case

    resolve_full_name = staticmethod(_detail("full_name", "full_name"))
    resolve_description = staticmethod(
        _detail("description", "description", required=False)
    )
    resolve_url = staticmethod(_detail("url", "html_url of the repository"))
    resolve_default_branch = staticmethod(_detail("default_branch", "default_branch"))
    resolve_stars = staticmethod(_detail("stars", "stargazers_count"))
    resolve_forks = staticmethod(_detail("forks", "forks_count"))
    resolve_open_issues_count = staticmethod(
        _detail("open_issues_count", "open_issues_count")
    )
    resolve_private = staticmethod(_detail("private", "private"))

    @staticmethod
    async def resolve_issues(
        repo: RepositoryHandle,
        info: GraphQLResolveInfo,
        state: str = "OPEN",
        first: int | None = 20,
        after: str | None = None,
    ) -> list[Issue]:
        size = page_size(first)
        return await _service(info).issues(repo.owner, repo.name, state, size, after)

    @staticmethod
    async def resolve_pull_requests(
        repo: RepositoryHandle,
        info: GraphQLResolveInfo,
        state: str = "OPEN",
        first: int | None = 20,
        after: str | None = None,
    ) -> list[PullRequest]:
        size = page_size(first)
        return await _service(info).pull_requests(
            repo.owner, repo.name, state, size, after
        )

    @staticmethod
    async def resolve_issue(
        repo: RepositoryHandle, info: GraphQLResolveInfo, number: int
    ) -> Issue:
        return await _service(info).issue(repo.owner, repo.name, number)


def resolve_repository_reference(
    representation: dict[str, Any], info: GraphQLResolveInfo
) -> RepositoryHandle:
    """``_entities`` for ``GitHubRepository``: details are fetched when a field
    needs them, so a query for pull requests alone costs one request."""
    owner, name = representation.get("owner"), representation.get("name")
    if not isinstance(owner, str) or not isinstance(name, str):
        raise BadUserInputError("a GitHubRepository representation needs owner, name")
    return _service(info).handle(owner, name)


class QueryType(ObjectType):
    __schema__ = """
    type Query {
      "A repository on GitHub (NOT_FOUND when there is none, or it is private)."
      githubRepository(owner: String!, name: String!): GitHubRepository
    }
    """
    __requires__ = [GitHubRepositoryType]

    @staticmethod
    async def resolve_githubRepository(
        _root: Any, info: GraphQLResolveInfo, owner: str, name: str
    ) -> RepositoryHandle:
        handle = _service(info).handle(owner, name)
        await handle.details()  # NOT_FOUND here, not in every field
        return handle


class CreateIssueInputType(InputType):
    __schema__ = """
    input CreateIssueInput {
      owner: String!
      name: String!
      title: String!
      body: String
      labels: [String!]
    }
    """


class AddCommentInputType(InputType):
    __schema__ = """
    input AddCommentInput {
      owner: String!
      name: String!
      "The issue or pull request number."
      number: Int!
      body: String!
    }
    """


class CreateIssueMutation(MutationType):
    __schema__ = """
    type Mutation {
      "Opens an issue (needs a token allowed to write issues)."
      createIssue(input: CreateIssueInput!): Issue!
    }
    """
    __requires__ = [CreateIssueInputType, IssueType]

    @staticmethod
    async def resolve_mutation(
        _root: Any, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> Issue:
        return await _service(info).create_issue(
            input["owner"],
            input["name"],
            input["title"],
            input.get("body"),
            input.get("labels"),
        )


class AddCommentMutation(MutationType):
    __schema__ = """
    type Mutation {
      "Comments on an issue or pull request."
      addComment(input: AddCommentInput!): IssueComment!
    }
    """
    __requires__ = [AddCommentInputType, IssueCommentType]

    @staticmethod
    async def resolve_mutation(
        _root: Any, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> Comment:
        return await _service(info).add_comment(
            input["owner"], input["name"], input["number"], input["body"]
        )


ROOT_TYPES = (QueryType, CreateIssueMutation, AddCommentMutation)
"""What ``make_federated_schema`` is given: everything else is required by these."""
