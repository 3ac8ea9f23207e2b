"""The claude subgraph's GraphQL schema, written with ariadne-graphql-modules.

The public types below are the subgraph SDL (``SDL``, what ``_service { sdl }``
answers), a Federation 2 subgraph with ``Session`` as an entity keyed by ``id``.
ariadne-graphql-modules has no federation helper, so the federation plumbing is
written here with the same modules: ``_Service``, ``_Any``, ``_Entity`` and a second
``Query`` type holding ``_service`` and ``_entities``, merged into the executable
schema but kept out of ``SDL``.
See https://www.apollographql.com/docs/graphos/reference/federation/subgraph-spec

Resolvers are static functions that take the service from ``info.context``: there is
no ``self`` to lose, however a resolver is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from textwrap import dedent
from typing import Any, cast

from ariadne_graphql_modules import (
    DeferredType,
    EnumType,
    InputType,
    ObjectType,
    ScalarType,
    SubscriptionType,
    UnionType,
    convert_case,
    make_executable_schema,
)
from graphql import GraphQLEnumType, GraphQLError, GraphQLResolveInfo, GraphQLSchema

from gateway.local import SourceEvent
from subgraphs.claude.errors import ClaudeError, graphql_errors, to_graphql_error
from subgraphs.claude.service import ClaudeService
from subgraphs.claude.store import CommandRecord, OutputEvent, SessionRecord

__all__ = ["SDL", "make_schema"]

FEDERATION_LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
    'import: ["@key"])'
)


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
    (text: the prompt / the final status). SESSION_CLOSED is the last event."""
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
      OTHER
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
      "ISO 8601, UTC."
      startedAt: String!
      finishedAt: String
    }
    '''
    __requires__ = [CommandStatusEnum]
    __aliases__ = convert_case


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
    }
    '''
    __requires__ = [CommandType, SessionStatusEnum, DeferredType("key")]
    __aliases__ = convert_case

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
    }
    """
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
    }
    """
    __requires__ = [SessionType, CommandType, SessionStatusEnum]
    __aliases__ = convert_case

    @staticmethod
    async def resolve_session(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> SessionRecord | None:
        with graphql_errors():
            return await _service(info).session(id)

    @staticmethod
    async def resolve_sessions(
        _: Any, info: GraphQLResolveInfo, status: str | None = None
    ) -> list[SessionRecord]:
        with graphql_errors():
            return await _service(info).sessions([status] if status else None)

    @staticmethod
    async def resolve_active_sessions(
        _: Any, info: GraphQLResolveInfo
    ) -> list[SessionRecord]:
        with graphql_errors():
            return await _service(info).active_sessions()

    @staticmethod
    async def resolve_command(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> CommandRecord | None:
        with graphql_errors():
            return await _service(info).command(id)


class MutationRoot(ObjectType):
    __schema__ = """
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
    }
    """
    __requires__ = [SessionType, CommandType, CreateSessionInputType]
    __aliases__ = convert_case
    __fields_args__ = convert_case

    @staticmethod
    async def resolve_create_session(
        _: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]
    ) -> SessionRecord:
        with graphql_errors():
            return await _service(info).create_session(
                str(input["working_directory"]), input.get("model")
            )

    @staticmethod
    async def resolve_execute_command(
        _: Any, info: GraphQLResolveInfo, session_id: str, command: str
    ) -> CommandRecord:
        with graphql_errors():
            return await _service(info).execute_command(session_id, command)

    @staticmethod
    async def resolve_start_command(
        _: Any, info: GraphQLResolveInfo, session_id: str, command: str
    ) -> CommandRecord:
        with graphql_errors():
            return await _service(info).start_command(session_id, command)

    @staticmethod
    async def resolve_interrupt_command(
        _: Any, info: GraphQLResolveInfo, session_id: str
    ) -> CommandRecord:
        with graphql_errors():
            return await _service(info).interrupt_command(session_id)

    @staticmethod
    async def resolve_close_session(
        _: Any, info: GraphQLResolveInfo, id: str
    ) -> SessionRecord:
        with graphql_errors():
            return await _service(info).close_session(id)


class SubscriptionRoot(SubscriptionType):
    __schema__ = '''
    type Subscription {
      """
      The session's output: stored events after afterSeq (default: all), then live
      ones as they happen, across commands, until the session is closed.
      """
      commandOutput(sessionId: ID!, afterSeq: Int): OutputEvent!
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
    ) -> AsyncIterator[SourceEvent]:
        service = _service(info)
        with graphql_errors():
            await service.require_session(sessionId)
        after = max(afterSeq or 0, _last_event_id(info) or 0)
        return _stream(service.output(sessionId, after))

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
    """``events`` as resumable source events (their seq is the event id), with our
    errors raised as GraphQL errors (with their code)."""
    try:
        async for event in events:
            yield SourceEvent(str(event.seq), event)
    except ClaudeError as error:
        raise to_graphql_error(error) from error
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


# -- federation ----------------------------------------------------------------------


class AnyScalar(ScalarType):
    __schema__ = "scalar _Any"

    @staticmethod
    def parse_value(value: Any) -> Any:
        return value


class ServiceType(ObjectType):
    __schema__ = """
    type _Service {
      sdl: String
    }
    """


class EntityUnion(UnionType):
    __schema__ = "union _Entity = Session"
    __requires__ = [SessionType]

    @staticmethod
    def resolve_type(obj: Any, *_: Any) -> str | None:
        return "Session" if isinstance(obj, SessionRecord) else None


class FederationQuery(ObjectType):
    __schema__ = """
    type Query {
      _service: _Service!
      _entities(representations: [_Any!]!): [_Entity]!
    }
    """
    __requires__ = [ServiceType, EntityUnion, AnyScalar]

    @staticmethod
    def resolve__service(_: Any, info: GraphQLResolveInfo) -> dict[str, str]:
        return {"sdl": SDL}

    @staticmethod
    async def resolve__entities(
        _: Any, info: GraphQLResolveInfo, representations: list[Any]
    ) -> list[SessionRecord | None]:
        ids: list[str] = []
        for representation in representations:
            if not isinstance(representation, Mapping):
                raise GraphQLError(
                    "each representation must be an object",
                    extensions={"code": "BAD_USER_INPUT"},
                )
            typename = representation.get("__typename")
            if typename != "Session":
                raise GraphQLError(
                    f"the claude subgraph has no entity type {typename!r}",
                    extensions={"code": "BAD_USER_INPUT"},
                )
            ids.append(str(representation.get("id")))
        with graphql_errors():
            sessions = await _service(info).sessions_by_id(sorted(set(ids)))
        return [sessions.get(session_id) for session_id in ids]


FEDERATION_DEFINITIONS = """
scalar FieldSet

directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
"""

_PUBLIC_TYPES: tuple[type[Any], ...] = (
    QueryType,
    MutationRoot,
    SubscriptionRoot,
    SessionType,
    CommandType,
    OutputEventType,
    CreateSessionInputType,
    SessionStatusEnum,
    CommandStatusEnum,
    OutputKindEnum,
    JSONScalar,
)

SDL = (
    "\n\n".join(
        [FEDERATION_LINK, *(dedent(t.__schema__).strip() for t in _PUBLIC_TYPES)]
    )
    + "\n"
)
"""The subgraph SDL, as ``_service { sdl }`` returns it."""


def make_schema() -> GraphQLSchema:
    """The executable subgraph schema (public types plus federation fields)."""
    schema = make_executable_schema(
        *_PUBLIC_TYPES, FederationQuery, FEDERATION_DEFINITIONS
    )
    _undo_enum_parse_value_patch(schema)
    return schema


def _undo_enum_parse_value_patch(schema: GraphQLSchema) -> None:
    """Give enums back graphql-core's own ``parse_value``.

    ariadne's ``repair_schema_default_enum_values`` (called by
    ariadne-graphql-modules) sets a one-argument ``parse_value`` on every enum,
    built-in ones included, while graphql-core 3.2.14 calls it with two: every
    enum-typed variable would fail. Our enum values are their names, so the
    repair has nothing to do here.
    """
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLEnumType) and "parse_value" in vars(type_):
            del type_.parse_value
