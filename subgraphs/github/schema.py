"""The github subgraph's GraphQL types (ariadne-graphql-modules) and resolvers.

Lists take ``first`` (0..100) and ``after`` (an item's ``cursor``), the same way
as the git subgraph's ``log``.
"""

from __future__ import annotations

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
from subgraphs.github.errors import BadUserInputError
from subgraphs.github.models import Comment, Issue, PullRequest
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

    @staticmethod
    async def resolve_comments(
        issue: Issue,
        info: GraphQLResolveInfo,
        first: int = 20,
        after: str | None = None,
    ) -> list[Comment]:
        return await _service(info).comments(
            issue.owner, issue.name, issue.number, first, after
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

    @staticmethod
    async def resolve_full_name(repo: RepositoryHandle, _info: Any) -> str:
        return (await repo.details()).full_name

    @staticmethod
    async def resolve_description(repo: RepositoryHandle, _info: Any) -> str | None:
        return (await repo.details()).description

    @staticmethod
    async def resolve_url(repo: RepositoryHandle, _info: Any) -> str:
        return (await repo.details()).url

    @staticmethod
    async def resolve_default_branch(repo: RepositoryHandle, _info: Any) -> str:
        return (await repo.details()).default_branch

    @staticmethod
    async def resolve_stars(repo: RepositoryHandle, _info: Any) -> int:
        return (await repo.details()).stars

    @staticmethod
    async def resolve_forks(repo: RepositoryHandle, _info: Any) -> int:
        return (await repo.details()).forks

    @staticmethod
    async def resolve_open_issues_count(repo: RepositoryHandle, _info: Any) -> int:
        return (await repo.details()).open_issues_count

    @staticmethod
    async def resolve_private(repo: RepositoryHandle, _info: Any) -> bool:
        return (await repo.details()).private

    @staticmethod
    async def resolve_issues(
        repo: RepositoryHandle,
        info: GraphQLResolveInfo,
        state: str = "OPEN",
        first: int = 20,
        after: str | None = None,
    ) -> list[Issue]:
        return await _service(info).issues(repo.owner, repo.name, state, first, after)

    @staticmethod
    async def resolve_pull_requests(
        repo: RepositoryHandle,
        info: GraphQLResolveInfo,
        state: str = "OPEN",
        first: int = 20,
        after: str | None = None,
    ) -> list[PullRequest]:
        return await _service(info).pull_requests(
            repo.owner, repo.name, state, first, after
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
