"""The claude subgraph's GraphQL schema, written with ariadne-graphql-modules.

The public types below are the subgraph SDL (``SDL``, what ``_service { sdl }``
answers), a Federation 2 subgraph with ``Session`` as an entity keyed by ``id``;
``subgraphs.federation`` adds ``_service`` and ``_entities`` (one batch read of the
sessions for all representations).

Resolvers are static functions that take the service from ``info.context``: there is
no ``self`` to lose, however a resolver is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from ariadne_graphql_modules import (
    EnumType,
    InputType,
    ObjectType,
    ScalarType,
    SubscriptionType,
    convert_case,
)
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from gateway.local import SourceEvent
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.store import (
    CommandRecord,
    OutputEvent,
    PermissionRecord,
    SessionRecord,
    Usage,
)
from subgraphs.federation import (
    Entity,
    FederatedSchema,
    federation_directives,
    make_federated_schema,
)

__all__ = ["ROOT_TYPES", "SDL", "make_federated", "make_schema"]


def _service(info: GraphQLResolveInfo) -> ClaudeService:
    context = info.context
    service = context.get("service") if isinstance(context, Mapping) else None
    if not isinstance(service, ClaudeService):
        raise GraphQLError(
            "the claude subgraph was called without its context",
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    return service


class JSONScalar(ScalarType):
    __schema__ = '''
    """Any JSON value."""
    scalar JSON
    '''

    @staticmethod
    def serialize(value: Any) -> Any:
        return value

    @staticmethod
    def parse_value(value: Any) -> Any:
        return value


class SessionStatusEnum(EnumType):
    __schema__ = '''
    """IDLE: ready for a command. RUNNING: a command is running. FAILED: the last
    command failed (the session can still run commands). CLOSED: no more commands."""
    enum SessionStatus {
      IDLE
      RUNNING
      FAILED
      CLOSED
    }
    '''


class CommandStatusEnum(EnumType):
    __schema__ = """
    enum CommandStatus {
      RUNNING
      SUCCEEDED
      FAILED
      INTERRUPTED
      TIMED_OUT
    }
    """


class OutputKindEnum(EnumType):
    __schema__ = '''
    """What an output event carries. SYSTEM: a CLI system message (text: its
    subtype, e.g. init). TEXT / THINKING: assistant text. TOOL_USE: text is the tool
    name, data {id, name, input}. TOOL_RESULT: data {toolUseId, content, isError}.
    RESULT: the command's final result, data {costUsd, durationMs, numTurns, ...}.
    ERROR: data {code}. COMMAND_STARTED / COMMAND_FINISHED bracket each command
    (text: the prompt / the final status). SESSION_CLOSED is the last event.
    PERMISSION_REQUEST: Claude asks for a tool (text: the tool; data {requestId,
    toolName, input, suggestions, toolUseId, title, expiresAt}): answer it with
    answerPermission. PERMISSION_RESOLVED: it was answered, timed out or ended
    (text: the status; data {requestId, status, message, remember}).
    TEXT_DELTA / THINKING_DELTA: live pieces of text (commandOutput(deltas:
    true) only; never stored or replayed; seq is the stored event before them).
    PROMPT: what the user typed, in a conversation imported from Claude Code."""
    enum OutputKind {
      COMMAND_STARTED
      SYSTEM
      TEXT
      THINKING
      TOOL_USE
      TOOL_RESULT
      RESULT
      ERROR
      COMMAND_FINISHED
      SESSION_CLOSED
      PERMISSION_REQUEST
      PERMISSION_RESOLVED
      TEXT_DELTA
      THINKING_DELTA
      PROMPT
      OTHER
    }
    '''


class PermissionModeEnum(EnumType):
    __schema__ = '''
    """How the CLI decides about tools (its --permission-mode). default: ask
    (PERMISSION_REQUEST) for what no rule allows; acceptEdits: file edits are
    allowed; plan: nothing runs; bypassPermissions: everything runs (only when
    the server allows it)."""
    enum PermissionMode {
      default
      acceptEdits
      plan
      bypassPermissions
    }
    '''


class SystemPromptModeEnum(EnumType):
    __schema__ = '''
    """APPEND: Claude Code's own system prompt, then systemPrompt. REPLACE:
    systemPrompt alone."""
    enum SystemPromptMode {
      APPEND
      REPLACE
    }
    '''


class SessionOriginEnum(EnumType):
    __schema__ = """
    enum SessionOrigin {
      CREATED
      FORKED
      IMPORTED
    }
    """


class PermissionStatusEnum(EnumType):
    __schema__ = """
    enum PermissionStatus {
      OPEN
      ALLOWED
      DENIED
      TIMED_OUT
      INTERRUPTED
    }
    """


class UsageType(ObjectType):
    __schema__ = '''
    """Tokens and cost, as the CLI reports them in its results."""
    type Usage {
      inputTokens: Int!
      outputTokens: Int!
      cacheReadTokens: Int!
      cacheCreationTokens: Int!
      costUsd: Float!
      numTurns: Int!
    }
    '''
    __aliases__ = convert_case


class PermissionRequestType(ObjectType):
    __schema__ = '''
    """Claude asked whether a tool may run."""
    type PermissionRequest {
      id: ID!
      sessionId: ID!
      commandId: ID!
      toolName: String!
      "The tool's input, e.g. {command} for Bash."
      input: JSON
      "The CLI's suggested rules (remember adds the first one)."
      suggestions: JSON
      toolUseId: String
      title: String
      status: PermissionStatus!
      message: String
      remember: Boolean!
      "ISO 8601, UTC."
      createdAt: String!
      "When it is denied without an answer."
      expiresAt: String
      answeredAt: String
    }
    '''
    __requires__ = [PermissionStatusEnum, JSONScalar]
    __aliases__ = convert_case


class ClaudeCodeSessionType(ObjectType):
    __schema__ = '''
    """A session the Claude Code CLI keeps on disk (importSession continues it)."""
    type ClaudeCodeSession {
      "The CLI's session UUID."
      sessionId: ID!
      title: String!
      firstPrompt: String
      "ISO 8601, UTC."
      lastModified: String!
      createdAt: String
      gitBranch: String
      workingDirectory: String
      "Our session for it, if there is one (imported, or started through us)."
      importedAs: ID
    }
    '''


class CommandType(ObjectType):
    __schema__ = '''
    """One prompt sent to Claude in a session."""
    type Command {
      id: ID!
      sessionId: ID!
      prompt: String!
      status: CommandStatus!
      "The final answer, when the command succeeded."
      result: String
      "Why the command failed, was interrupted or timed out."
      error: String
      "The error's extensions.code (CLI_CRASHED, COMMAND_TIMEOUT, ...)."
      errorCode: String
      costUsd: Float
      durationMs: Int
      "Tokens and cost of this command (null until it has a result)."
      usage: Usage
      "ISO 8601, UTC."
      startedAt: String!
      finishedAt: String
    }
    '''
    __requires__ = [CommandStatusEnum, UsageType]
    __aliases__ = convert_case

    @staticmethod
    def resolve_usage(command: CommandRecord, info: GraphQLResolveInfo) -> Usage | None:
        if command.input_tokens is None and command.cost_usd is None:
            return None
        return Usage(
            input_tokens=command.input_tokens or 0,
            output_tokens=command.output_tokens or 0,
            cache_read_tokens=command.cache_read_tokens or 0,
            cache_creation_tokens=command.cache_creation_tokens or 0,
            cost_usd=command.cost_usd or 0.0,
            num_turns=command.num_turns or 0,
        )


class SessionType(ObjectType):
    __schema__ = '''
    """A conversation with Claude in a working directory."""
    type Session @key(fields: "id") {
      "Our id: short and URL-safe."
      id: ID!
      "The UUID the Claude CLI knows this conversation by (--resume uses it)."
      claudeSessionId: ID!
      workingDirectory: String!
      model: String
      status: SessionStatus!
      createdAt: String!
      updatedAt: String!
      "Every command of the session, oldest first."
      commands: [Command!]!
      "The command running now, if any."
      runningCommand: Command
      "The seq of the session's latest output event (0 if none)."
      lastSeq: Int!
      permissionMode: PermissionMode!
      "Tool rules allowed without asking (remember adds to them)."
      allowedTools: [String!]!
      "Tool rules always denied."
      disallowedTools: [String!]!
      systemPrompt: String
      systemPromptMode: SystemPromptMode!
      maxTurns: Int
      maxBudgetUsd: Float
      "Totals over the session's commands."
      usage: Usage!
      origin: SessionOrigin!
      "The Claude UUID this session was forked from."
      forkedFrom: ID
      "Permission requests waiting for an answer."
      pendingPermissions: [PermissionRequest!]!
    }
    '''
    __requires__ = [
        CommandType,
        SessionStatusEnum,
        PermissionModeEnum,
        SystemPromptModeEnum,
        SessionOriginEnum,
        UsageType,
        PermissionRequestType,
        *federation_directives("key"),
    ]
    __aliases__ = convert_case

    @staticmethod
    def resolve_permission_mode(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> str:
        return session.options.permission_mode

    @staticmethod
    def resolve_allowed_tools(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> list[str]:
        return list(session.options.allowed_tools)

    @staticmethod
    def resolve_disallowed_tools(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> list[str]:
        return list(session.options.disallowed_tools)

    @staticmethod
    def resolve_system_prompt(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> str | None:
        return session.options.system_prompt

    @staticmethod
    def resolve_system_prompt_mode(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> str:
        return session.options.system_prompt_mode

    @staticmethod
    def resolve_max_turns(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> int | None:
        return session.options.max_turns

    @staticmethod
    def resolve_max_budget_usd(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> float | None:
        return session.options.max_budget_usd

    @staticmethod
    async def resolve_usage(session: SessionRecord, info: GraphQLResolveInfo) -> Usage:
        return await _service(info).session_usage(session.id)

    @staticmethod
    async def resolve_pending_permissions(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> list[PermissionRecord]:
        return await _service(info).pending_permissions(session.id)

    @staticmethod
    async def resolve_commands(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> list[CommandRecord]:
        return await _service(info).commands(session.id)

    @staticmethod
    async def resolve_running_command(
        session: SessionRecord, info: GraphQLResolveInfo
    ) -> CommandRecord | None:
        commands = await _service(info).commands(session.id)
        running = [c for c in commands if c.status == "RUNNING"]
        return running[-1] if running else None

    @staticmethod
    async def resolve_last_seq(session: SessionRecord, info: GraphQLResolveInfo) -> int:
        return await _service(info).last_seq(session.id)


class OutputEventType(ObjectType):
    __schema__ = '''
    """One message of a session's output. seq grows by one per event across the
    session's commands: commandOutput(afterSeq:) resumes after it."""
    type OutputEvent {
      sessionId: ID!
      commandId: ID
      seq: Int!
      kind: OutputKind!
      text: String
      data: JSON
      "ISO 8601, UTC."
      at: String!
    }
    '''
    __requires__ = [OutputKindEnum, JSONScalar]
    __aliases__ = convert_case


class CreateSessionInputType(InputType):
    __schema__ = """
    input CreateSessionInput {
      "An existing directory; the CLI runs there."
      workingDirectory: String!
      "A model name or alias for the CLI (default: the configured or CLI default)."
      model: String
      "default unless the server's dangerous_mode makes it bypassPermissions."
      permissionMode: PermissionMode
      allowedTools: [String!]
      disallowedTools: [String!]
      systemPrompt: String
      systemPromptMode: SystemPromptMode = APPEND
      maxTurns: Int
      maxBudgetUsd: Float
    }
    """
    __requires__ = [PermissionModeEnum, SystemPromptModeEnum]
    __args__ = convert_case


class QueryType(ObjectType):
    __schema__ = """
    type Query {
      session(id: ID!): Session
      "All sessions, oldest first; only those with this status if given."
      sessions(status: SessionStatus): [Session!]!
      "Sessions that can still run commands (IDLE, RUNNING, FAILED)."
      activeSessions: [Session!]!
      command(id: ID!): Command
      "Permission requests of the session waiting for an answer, oldest first."
      pendingPermissions(sessionId: ID!): [PermissionRequest!]!
      "The sessions the Claude Code CLI keeps on disk for a directory (newest first)."
      claudeCodeSessions(workingDirectory: String!): [ClaudeCodeSession!]!
    }
    """
    __requires__ = [
        SessionType,
        CommandType,
        SessionStatusEnum,
        PermissionRequestType,
        ClaudeCodeSessionType,
    ]
    __aliases__ = convert_case
    __fields_args__ = convert_case

    @staticmethod
    async def resolve_pending_permissions(
        _: Any, info: GraphQLResolveInfo, session_id: str
    ) -> list[PermissionRecord]:
        return await _service(info).pending_permissions(session_id)

    @staticmethod
    async def resolve_claude_code_sessions(
        _: Any, info: GraphQLResolveInfo, working_directory: str
    ) -> list[dict[str, Any]]:
        found = await _service(info).claude_code_sessions(working_directory)
        return [
            {
                "sessionId": s.session_id,
                "title": s.title,
                "firstPrompt": s.first_prompt,
                "lastModified": s.last_modified,
                "createdAt": s.created_at,
                "gitBranch": s.git_branch,
                "workingDirectory": s.working_directory,
                "importedAs": ours,
            }
            for s, ours in found
        ]

    @staticmethod
    async def resolve_session(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> SessionRecord | None:
        return await _service(info).session(id)

    @staticmethod
    async def resolve_sessions(
        _: Any, info: GraphQLResolveInfo, status: str | None = None
    ) -> list[SessionRecord]:
        return await _service(info).sessions([status] if status else None)

    @staticmethod
    async def resolve_active_sessions(
        _: Any, info: GraphQLResolveInfo
    ) -> list[SessionRecord]:
        return await _service(info).active_sessions()

    @staticmethod
    async def resolve_command(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> CommandRecord | None:
        return await _service(info).command(id)


class MutationRoot(ObjectType):
    __schema__ = '''
    type Mutation {
      createSession(input: CreateSessionInput!): Session!
      "Run a command and wait for its end; failures are errors with a code."
      executeCommand(sessionId: ID!, command: String!): Command!
      "Start a command and return at once; follow it with commandOutput."
      startCommand(sessionId: ID!, command: String!): Command!
      "Stop the running command; returns it once its process has exited."
      interruptCommand(sessionId: ID!): Command!
      "Stop any running command and close the session for good."
      closeSession(id: ID!): Session!
      """
      Answer a PERMISSION_REQUEST: allow (with the tool's input changed to
      updatedInput, if given) or deny (message is what Claude is told).
      remember adds the rule to the session: later calls are not asked about.
      """
      answerPermission(
        requestId: ID!
        allow: Boolean!
        message: String
        updatedInput: JSON
        remember: Boolean = false
      ): PermissionRequest!
      """
      A new session continuing this one's conversation after event atSeq
      (default: the whole of it), with its own Claude UUID; the two then diverge.
      """
      forkSession(id: ID!, atSeq: Int): Session!
      "A session of ours that continues a Claude Code session found on disk."
      importSession(uuid: ID!): Session!
    }
    '''
    __requires__ = [
        SessionType,
        CommandType,
        CreateSessionInputType,
        PermissionRequestType,
        JSONScalar,
    ]
    __aliases__ = convert_case
    __fields_args__ = convert_case

    @staticmethod
    async def resolve_create_session(
        _: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]
    ) -> SessionRecord:
        return await _service(info).create_session(
            str(input["working_directory"]), input.get("model"), input
        )

    @staticmethod
    async def resolve_answer_permission(
        _: Any,
        info: GraphQLResolveInfo,
        request_id: str,
        allow: bool,
        message: str | None = None,
        updated_input: Any = None,
        remember: bool = False,
    ) -> PermissionRecord:
        return await _service(info).answer_permission(
            request_id,
            allow=allow,
            message=message,
            updated_input=updated_input,
            remember=bool(remember),
        )

    @staticmethod
    async def resolve_fork_session(
        _: Any, info: GraphQLResolveInfo, id: str, at_seq: int | None = None
    ) -> SessionRecord:
        return await _service(info).fork_session(id, at_seq)

    @staticmethod
    async def resolve_import_session(
        _: Any, info: GraphQLResolveInfo, uuid: str
    ) -> SessionRecord:
        return await _service(info).import_session(uuid)

    @staticmethod
    async def resolve_execute_command(
        _: Any, info: GraphQLResolveInfo, session_id: str, command: str
    ) -> CommandRecord:
        return await _service(info).execute_command(session_id, command)

    @staticmethod
    async def resolve_start_command(
        _: Any, info: GraphQLResolveInfo, session_id: str, command: str
    ) -> CommandRecord:
        return await _service(info).start_command(session_id, command)

    @staticmethod
    async def resolve_interrupt_command(
        _: Any, info: GraphQLResolveInfo, session_id: str
    ) -> CommandRecord:
        return await _service(info).interrupt_command(session_id)

    @staticmethod
    async def resolve_close_session(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> SessionRecord:
        return await _service(info).close_session(id)


class SubscriptionRoot(SubscriptionType):
    __schema__ = '''
    type Subscription {
      """
      The session's output: stored events after afterSeq (default: all), then live
      ones as they happen, across commands, until the session is closed. With
      deltas, also TEXT_DELTA / THINKING_DELTA events as Claude writes (live only).
      """
      commandOutput(sessionId: ID!, afterSeq: Int, deltas: Boolean = false): OutputEvent!
    }
    '''
    __requires__ = [OutputEventType]
    # SubscriptionType does not apply __fields_args__ (0.8): arguments keep
    # their GraphQL names here.
    __aliases__ = convert_case

    @staticmethod
    async def subscribe_command_output(
        _: Any,
        info: GraphQLResolveInfo,
        sessionId: str,
        afterSeq: int | None = None,
        deltas: bool | None = False,
    ) -> AsyncIterator[SourceEvent]:
        service = _service(info)
        await service.require_session(sessionId)
        after = max(afterSeq or 0, _last_event_id(info) or 0)
        return _stream(service.output(sessionId, after, bool(deltas)))

    @staticmethod
    def resolve_command_output(
        event: OutputEvent | SourceEvent, info: GraphQLResolveInfo, **_: Any
    ) -> OutputEvent:
        # The gateway's in-process transport unwraps source events itself; plain
        # graphql-core ``subscribe`` (and so any other server) hands them over as is.
        if isinstance(event, SourceEvent):
            return cast(OutputEvent, event.value)
        return event


def _last_event_id(info: GraphQLResolveInfo) -> int | None:
    """The ``Last-Event-ID`` a reconnecting client sent (through the gateway, or
    straight to the standalone server): the seq it saw last."""
    context = info.context
    request = context.get("request") if isinstance(context, Mapping) else None
    headers = getattr(request, "headers", None)
    value = headers.get("Last-Event-ID") if headers is not None else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise GraphQLError(
            f"Last-Event-ID {value!r} is not a commandOutput event id",
            extensions={"code": "BAD_USER_INPUT"},
        ) from None


async def _stream(events: AsyncIterator[OutputEvent]) -> AsyncIterator[SourceEvent]:
    """``events`` as resumable source events: the event id is the seq. A delta
    has the seq (and so the id) of the stored event before it: a client that
    reconnects after it resumes there and gets the whole text as a TEXT event."""
    try:
        async for event in events:
            yield SourceEvent(str(event.seq), event)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


# -- federation ----------------------------------------------------------------------


async def resolve_session_references(
    representations: list[dict[str, Any]], info: GraphQLResolveInfo
) -> list[SessionRecord | None]:
    """``_entities`` for ``Session``: every representation in one database read."""
    ids = [str(representation.get("id")) for representation in representations]
    sessions = await _service(info).sessions_by_id(sorted(set(ids)))
    return [sessions.get(session_id) for session_id in ids]


ROOT_TYPES: tuple[type[Any], ...] = (
    QueryType,
    MutationRoot,
    SubscriptionRoot,
    SessionType,
)
"""What ``make_federated_schema`` is given: everything else is required by these."""


def make_federated() -> FederatedSchema:
    """The executable subgraph schema and its SDL (``subgraphs.federation``)."""
    return make_federated_schema(
        *ROOT_TYPES,
        entities=[
            Entity(
                "Session",
                SessionRecord,
                resolve_references=resolve_session_references,
            )
        ],
    )


def make_schema() -> GraphQLSchema:
    """The executable subgraph schema (public types plus ``_service``/``_entities``)."""
    return make_federated().schema


SDL = make_federated().sdl
"""The subgraph SDL, as ``_service { sdl }`` returns it."""
