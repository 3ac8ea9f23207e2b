"""A client request as a parsed, validated operation with coerced variables (cached).

See https://spec.graphql.org/October2021/#sec-Validation and
https://spec.graphql.org/October2021/#sec-Coercing-Variable-Values
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import Visitor, visit

from gateway.caching import LRU
from gateway.errors import BadRequestError, OperationError

__all__ = [
    "GraphQLRequest",
    "Operation",
    "OperationCache",
    "OperationKind",
    "Prepared",
    "coerce_variables",
    "prepare",
]

OperationKind = Literal["query", "mutation", "subscription"]

_KINDS: Mapping[OperationType, OperationKind] = {
    OperationType.QUERY: "query",
    OperationType.MUTATION: "mutation",
    OperationType.SUBSCRIPTION: "subscription",
}


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """A GraphQL-over-HTTP request as the server parsed it.

    See https://graphql.github.io/graphql-over-http/draft/#sec-Request-Parameters
    """

    query: str | None
    operation_name: str | None = None
    variables: Mapping[str, Any] | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Operation:
    """One executable operation of a parsed and validated document."""

    document: DocumentNode
    definition: OperationDefinitionNode
    kind: OperationKind
    name: str | None
    query: str
    """The document's text, as the client sent it (part of plan cache keys)."""
    fragments: Mapping[str, FragmentDefinitionNode] = field(default_factory=dict)
    condition_variables: tuple[str, ...] = ()
    """Variables used by ``@skip``/``@include``: their values are part of the plan
    cache key, the planner evaluates the conditions."""


def _error_dicts(errors: list[GraphQLError], code: str) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        formatted: dict[str, Any] = dict(error.formatted)
        extensions = dict(formatted.get("extensions") or {})
        extensions.setdefault("code", code)
        formatted["extensions"] = extensions
        out.append(formatted)
    return out


class _ConditionVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value not in ("skip", "include"):
            return
        for argument in node.arguments:
            if isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                if name not in self.names:
                    self.names.append(name)


def _select_operation(
    document: DocumentNode, operation_name: str | None, query: str
) -> Operation:
    definitions = [
        d for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    if operation_name is None:
        if len(definitions) != 1:
            raise OperationError(
                "the document has several operations: send 'operationName'"
                if definitions
                else "the document has no operation",
                code="OPERATION_NAME_REQUIRED"
                if definitions
                else "OPERATION_NOT_FOUND",
            )
        definition = definitions[0]
    else:
        found = [
            d
            for d in definitions
            if d.name is not None and d.name.value == operation_name
        ]
        if not found:
            raise OperationError(
                f"unknown operation named {operation_name!r}",
                code="OPERATION_NOT_FOUND",
            )
        definition = found[0]
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    finder = _ConditionVariables()
    visit(definition, finder)
    for fragment in fragments.values():
        visit(fragment, finder)
    return Operation(
        document=document,
        definition=definition,
        kind=_KINDS[definition.operation],
        name=definition.name.value if definition.name else None,
        query=query,
        fragments=fragments,
        condition_variables=tuple(finder.names),
    )


def coerce_variables(
    schema: GraphQLSchema, operation: Operation, raw: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The operation's variables coerced against ``schema``; ``BAD_USER_INPUT``
    when they do not fit their definitions."""
    if raw is not None and not isinstance(raw, Mapping):
        raise BadRequestError("'variables' must be an object")
    if not operation.definition.variable_definitions:
        return {}  # nothing to coerce; extra variables are ignored, as graphql-js does
    coerced = get_variable_values(
        schema, operation.definition.variable_definitions, dict(raw or {})
    )
    if isinstance(coerced, list):
        raise OperationError(
            coerced[0].message,
            code="BAD_USER_INPUT",
            errors=_error_dicts(coerced, "BAD_USER_INPUT"),
        )
    return coerced


@dataclass(frozen=True, slots=True)
class _Failure:
    """A document that cannot run, as the payload of the error to raise afresh."""

    message: str
    code: str
    errors: tuple[dict[str, Any], ...]

    def error(self) -> OperationError:
        return OperationError(
            self.message, code=self.code, errors=[dict(e) for e in self.errors]
        )


class OperationCache:
    """Parses and validates documents against one schema, once per
    (text, operationName); least recently used entries are dropped.

    Failures are cached too, as payloads: a repeated bad document is not parsed
    again, and each request gets its own fresh ``OperationError``.
    """

    def __init__(self, schema: GraphQLSchema, maxsize: int = 1024) -> None:
        self.schema = schema
        self._entries: LRU[tuple[str, str | None], Operation | _Failure] = LRU(maxsize)
        self.parse_count = 0
        """Documents parsed and validated so far (cache misses)."""

    @property
    def maxsize(self) -> int:
        return self._entries.maxsize

    @property
    def entries(self) -> LRU[tuple[str, str | None], Operation | _Failure]:
        """The cache itself (sizes and counters, for tests and metrics)."""
        return self._entries

    def get(self, query: str | None, operation_name: str | None = None) -> Operation:
        if query is None:
            raise BadRequestError("the request has no 'query'")
        if not isinstance(query, str):
            raise BadRequestError("'query' must be a string")
        key = (query, operation_name)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._build(query, operation_name)
            self._entries.put(key, entry)
        if isinstance(entry, _Failure):
            raise entry.error()
        return entry

    def _build(self, query: str, operation_name: str | None) -> Operation | _Failure:
        self.parse_count += 1
        try:
            document = parse(query)
        except GraphQLError as exc:
            return _Failure(
                exc.message,
                "GRAPHQL_PARSE_FAILED",
                tuple(_error_dicts([exc], "GRAPHQL_PARSE_FAILED")),
            )
        errors = validate(self.schema, document)
        if errors:
            return _Failure(
                errors[0].message,
                "GRAPHQL_VALIDATION_FAILED",
                tuple(_error_dicts(errors, "GRAPHQL_VALIDATION_FAILED")),
            )
        try:
            return _select_operation(document, operation_name, query)
        except OperationError as exc:
            return _Failure(exc.message, exc.code, tuple(exc.graphql_errors()))


@dataclass(frozen=True, slots=True, eq=False)
class Prepared:
    """A request ready to run: its operation and its coerced variables.

    ``request.variables`` keeps the values as the client sent them (what a subgraph
    receives on the wire); ``variables`` are the same values coerced against the
    schema (what the planner evaluates ``@skip``/``@include`` with).
    """

    request: GraphQLRequest
    operation: Operation
    variables: Mapping[str, Any]


def prepare(operations: OperationCache, request: GraphQLRequest) -> Prepared:
    """The one prepare path: parse and validate (cached), select the operation,
    coerce the variables. Raises ``OperationError`` / ``BadRequestError``.

    The gateway prepares against its client schema, a standalone subgraph server
    against the subgraph's schema.
    """
    operation = operations.get(request.query, request.operation_name)
    variables = coerce_variables(operations.schema, operation, request.variables)
    return Prepared(request, operation, variables)
