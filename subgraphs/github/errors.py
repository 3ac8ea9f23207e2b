"""Errors of the github subgraph, each a GraphQL error with its ``extensions.code``.

    SubgraphError (subgraphs.errors, a GraphQLError)
    └── GitHubError                  base of this subgraph's errors       UPSTREAM_ERROR
        ├── UnauthenticatedError     401: no token or a bad one           UNAUTHENTICATED
        ├── ForbiddenError           403 that is not a rate limit         FORBIDDEN
        ├── NotFoundError            404/410: no such repository, issue   NOT_FOUND
        ├── RateLimitedError         403/429 with X-RateLimit-Remaining: 0,
        │                            or Retry-After; ``resetAt``          RATE_LIMITED
        ├── BadUserInputError        bad argument, 422 from GitHub        BAD_USER_INPUT
        ├── UpstreamUnavailableError network failure, timeout, 5xx       UPSTREAM_UNAVAILABLE
        └── UpstreamError            an answer that cannot be understood  UPSTREAM_ERROR

Every error from an HTTP answer carries ``extensions.http.status``.
"""

from __future__ import annotations

from typing import Any

from subgraphs.errors import SubgraphError

__all__ = [
    "BadUserInputError",
    "ForbiddenError",
    "GitHubError",
    "NotFoundError",
    "RateLimitedError",
    "UnauthenticatedError",
    "UpstreamError",
    "UpstreamUnavailableError",
]


class GitHubError(SubgraphError):
    """Base of the github subgraph's errors; ``status`` is GitHub's HTTP status."""

    code = "UPSTREAM_ERROR"

    def __init__(
        self, message: str, *, status: int | None = None, **extensions: Any
    ) -> None:
        if status is not None:
            extensions["http"] = {"status": status}
        super().__init__(message, **extensions)
        self.status = status


class UnauthenticatedError(GitHubError):
    code = "UNAUTHENTICATED"


class ForbiddenError(GitHubError):
    code = "FORBIDDEN"


class NotFoundError(GitHubError):
    code = "NOT_FOUND"


class RateLimitedError(GitHubError):
    code = "RATE_LIMITED"


class BadUserInputError(GitHubError):
    code = "BAD_USER_INPUT"


class UpstreamUnavailableError(GitHubError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamError(GitHubError):
    code = "UPSTREAM_ERROR"
