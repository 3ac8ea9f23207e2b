"""Errors of the git subgraph, each a GraphQL error with its ``extensions.code``.

    SubgraphError (subgraphs.errors, a GraphQLError)
    └── GitSubgraphError            base of this subgraph's errors         GIT_ERROR
        ├── ForbiddenPathError      outside every configured root, or
        │                           inside a ``.git`` directory            FORBIDDEN_PATH
        ├── NotARepositoryError     not (inside) a git work tree           NOT_A_REPOSITORY
        ├── BadUserInputError       bad argument: cursor, revision, first  BAD_USER_INPUT
        ├── GitTimeoutError         one git operation ran past ``timeout`` GIT_TIMEOUT
        └── GitCommandError         the repository could not be read       GIT_ERROR

Resolvers raise them as they are: graphql-core reports them at the field's path
with their extensions. Messages name paths as the client sent them, never as
absolute server paths; details of unexpected failures go to the server log.
"""

from __future__ import annotations

from subgraphs.errors import SubgraphError

__all__ = [
    "BadUserInputError",
    "ForbiddenPathError",
    "GitCommandError",
    "GitSubgraphError",
    "GitTimeoutError",
    "NotARepositoryError",
]


class GitSubgraphError(SubgraphError):
    """Base of the git subgraph's errors."""

    code = "GIT_ERROR"


class ForbiddenPathError(GitSubgraphError):
    code = "FORBIDDEN_PATH"


class NotARepositoryError(GitSubgraphError):
    code = "NOT_A_REPOSITORY"


class BadUserInputError(GitSubgraphError):
    code = "BAD_USER_INPUT"


class GitTimeoutError(GitSubgraphError):
    code = "GIT_TIMEOUT"


class GitCommandError(GitSubgraphError):
    code = "GIT_ERROR"
