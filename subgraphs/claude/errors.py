"""Errors of the claude subgraph, each with its ``extensions.code``.

    SubgraphError (subgraphs.errors, a GraphQLError)
    └── ClaudeError                     base of this subgraph's errors
        ├── SessionNotFoundError        no session with that id          SESSION_NOT_FOUND
        ├── ForbiddenPathError          working directory outside roots  FORBIDDEN_PATH
        ├── ForbiddenError              an option the server does not allow FORBIDDEN
        ├── PermissionRequestNotFoundError  no open request with that id PERMISSION_REQUEST_NOT_FOUND
        ├── ClaudeSessionNotFoundError  no Claude Code session file      CLAUDE_SESSION_NOT_FOUND
        ├── ServiceUnavailableError     not started / shutting down      SERVICE_UNAVAILABLE
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

Each is a ``SubgraphError`` (a ``GraphQLError``) whose ``extensions.code`` is its
``code``: resolvers raise them as they are, and graphql-core keeps the code when it
adds the path.

    GatewayError (gateway.errors)
    └── StateLockedError                another process holds the state directory

``StateLockedError`` is raised at start-up, not by a resolver: the gateway prints it
as one line and exits.
"""

from __future__ import annotations

from gateway.errors import GatewayError
from subgraphs.errors import SubgraphError

__all__ = [
    "BadInputError",
    "BadWorkingDirectoryError",
    "ClaudeError",
    "ClaudeSessionNotFoundError",
    "CliCrashedError",
    "CliError",
    "CliNotAuthenticatedError",
    "CliNotFoundError",
    "CommandError",
    "CommandInterruptedError",
    "CommandTimeoutError",
    "ForbiddenError",
    "ForbiddenPathError",
    "NoRunningCommandError",
    "PermissionRequestNotFoundError",
    "ResumeFailedError",
    "ServiceUnavailableError",
    "SessionBusyError",
    "SessionClosedError",
    "SessionNotFoundError",
    "StateLockedError",
]


class ClaudeError(SubgraphError):
    """Base of the subgraph's errors: a GraphQL error with ``extensions.code``."""

    code = "CLAUDE_ERROR"


class ForbiddenPathError(ClaudeError):
    code = "FORBIDDEN_PATH"


class ForbiddenError(ClaudeError):
    code = "FORBIDDEN"


class PermissionRequestNotFoundError(ClaudeError):
    code = "PERMISSION_REQUEST_NOT_FOUND"


class ClaudeSessionNotFoundError(ClaudeError):
    code = "CLAUDE_SESSION_NOT_FOUND"


class ServiceUnavailableError(ClaudeError):
    code = "SERVICE_UNAVAILABLE"


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


class StateLockedError(GatewayError):
    """Another process (a second gateway) holds the state directory's lock."""

    code = "STATE_DIRECTORY_LOCKED"
