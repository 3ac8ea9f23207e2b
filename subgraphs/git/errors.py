"""Errors of the git subgraph, each a GraphQL error with its ``extensions.code``.

    GraphQLError (graphql-core)
    └── GitSubgraphError            base of this subgraph's errors         GIT_ERROR
        ├── ForbiddenPathError      outside every configured root          FORBIDDEN_PATH
        ├── NotARepositoryError     not (inside) a git work tree           NOT_A_REPOSITORY
        ├── BadUserInputError       bad argument: cursor, revision, first  BAD_USER_INPUT
        └── GitCommandError         git itself failed; stderr's first line GIT_ERROR

Resolvers raise them as they are: graphql-core reports them at the field's path
with their extensions.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

__all__ = [
    "BadUserInputError",
    "ForbiddenPathError",
    "GitCommandError",
    "GitSubgraphError",
    "NotARepositoryError",
]


class GitSubgraphError(GraphQLError):
    """Base of the git subgraph's errors."""

    code = "GIT_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class ForbiddenPathError(GitSubgraphError):
    code = "FORBIDDEN_PATH"


class NotARepositoryError(GitSubgraphError):
    code = "NOT_A_REPOSITORY"


class BadUserInputError(GitSubgraphError):
    code = "BAD_USER_INPUT"


class GitCommandError(GitSubgraphError):
    code = "GIT_ERROR"
