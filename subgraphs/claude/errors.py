"""Errors of the claude subgraph, each with its ``extensions.code``.

    GatewayError (gateway.errors)
    └── ClaudeError                     base of this subgraph's errors
        ├── SessionNotFoundError        no session with that id          SESSION_NOT_FOUND
        ├── SessionClosedError          the session was closed           SESSION_CLOSED
        ├── SessionBusyError            a command is already running     SESSION_BUSY
        ├── NoRunningCommandError       nothing to interrupt             NO_RUNNING_COMMAND
        ├── BadInputError               empty prompt, bad argument       BAD_USER_INPUT
        └── CommandError                a command ran and did not succeed
            ├── BadWorkingDirectoryError    missing / not a directory    BAD_WORKING_DIRECTORY
            ├── CliNotFoundError            no Claude CLI at the path    CLI_NOT_FOUND
            ├── CliNotAuthenticatedError    not logged in / no API key   CLI_NOT_AUTHENTICATED
            ├── ResumeFailedError           the CLI does not know the UUID RESUME_FAILED
            ├── CliCrashedError             exited non-zero; stderr tail CLI_CRASHED
            ├── CliError                    the CLI reported an error result CLI_ERROR
            ├── CommandTimeoutError         ran past command_timeout     COMMAND_TIMEOUT
            └── CommandInterruptedError     interruptCommand / shutdown  COMMAND_INTERRUPTED

Resolvers turn them into GraphQL errors with ``to_graphql_error()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from graphql import GraphQLError

from gateway.errors import GatewayError

__all__ = [
    "BadInputError",
    "BadWorkingDirectoryError",
    "ClaudeError",
    "CliCrashedError",
    "CliError",
    "CliNotAuthenticatedError",
    "CliNotFoundError",
    "CommandError",
    "CommandInterruptedError",
    "CommandTimeoutError",
    "NoRunningCommandError",
    "ResumeFailedError",
    "SessionBusyError",
    "SessionClosedError",
    "SessionNotFoundError",
    "graphql_errors",
    "to_graphql_error",
]


class ClaudeError(GatewayError):
    code = "CLAUDE_ERROR"


class SessionNotFoundError(ClaudeError):
    code = "SESSION_NOT_FOUND"


class SessionClosedError(ClaudeError):
    code = "SESSION_CLOSED"


class SessionBusyError(ClaudeError):
    code = "SESSION_BUSY"


class NoRunningCommandError(ClaudeError):
    code = "NO_RUNNING_COMMAND"


class BadInputError(ClaudeError):
    code = "BAD_USER_INPUT"


class CommandError(ClaudeError):
    """A command that ran and did not succeed; the command is stored with this
    error's code and message."""

    code = "COMMAND_FAILED"
    status = "FAILED"
    """The command's status once this error ended it."""


class BadWorkingDirectoryError(CommandError):
    """Also raised by ``createSession``, before any command exists."""

    code = "BAD_WORKING_DIRECTORY"


class CliNotFoundError(CommandError):
    code = "CLI_NOT_FOUND"


class CliNotAuthenticatedError(CommandError):
    code = "CLI_NOT_AUTHENTICATED"


class ResumeFailedError(CommandError):
    code = "RESUME_FAILED"


class CliCrashedError(CommandError):
    code = "CLI_CRASHED"


class CliError(CommandError):
    code = "CLI_ERROR"


class CommandTimeoutError(CommandError):
    code = "COMMAND_TIMEOUT"
    status = "TIMED_OUT"


class CommandInterruptedError(CommandError):
    code = "COMMAND_INTERRUPTED"
    status = "INTERRUPTED"


def to_graphql_error(error: GatewayError) -> GraphQLError:
    """``error`` as a GraphQL error whose ``extensions`` carry its code."""
    return GraphQLError(
        error.message, extensions=error.extensions(), original_error=error
    )


@contextmanager
def graphql_errors() -> Iterator[None]:
    """Re-raise our errors inside the block as GraphQL errors with their code."""
    try:
        yield
    except GatewayError as error:
        raise to_graphql_error(error) from error
