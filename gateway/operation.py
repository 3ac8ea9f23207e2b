"""A client request as a parsed, validated operation with coerced variables (cached).

See https://spec.graphql.org/October2021/#sec-Validation and
https://spec.graphql.org/October2021/#sec-Coercing-Variable-Values
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import orjson
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

from gateway.caching import DEFAULT_CACHE_BYTES, LRU
from gateway.errors import BadRequestError, OperationError
from gateway.limits import (
    OperationLimits,
    check_document,
    complexity,
    is_token_limit_error,
)

__all__ = [
    "AST_BYTES_PER_CHAR",
    "OFF_LOOP_CHARS",
    "GraphQLRequest",
    "Operation",
    "OperationCache",
    "OperationKind",
    "Prepared",
    "coerce_variables",
    "document_hash",
    "prepare",
    "prepare_async",
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
    hash: bytes = b""
    """``document_hash(query)``: what caches key on instead of the text."""
    complexity: int | None = None
    """The estimated cost (``gateway.limits``); ``None`` when list sizes come from
    variables (then it is estimated for each request)."""


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
    document: DocumentNode, operation_name: str | None, query: str, digest: bytes
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
        hash=digest,
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

    @classmethod
    def of(cls, exc: OperationError) -> _Failure:
        return cls(exc.message, exc.code, tuple(exc.graphql_errors()))

    def nbytes(self) -> int:
        return _ENTRY_OVERHEAD + len(orjson.dumps(self.errors, default=str))


AST_BYTES_PER_CHAR = 160
"""What a parsed document costs per character of its text, at most (measured with
tracemalloc on dense documents: aliases, arguments and short names; prose-like text
with long names costs a third of that)."""

_ENTRY_OVERHEAD = 512

OFF_LOOP_CHARS = 8 * 1024
"""Documents longer than this are parsed and validated in a worker thread by
``get_async``: the event loop keeps answering other requests meanwhile."""

PREPARE_THREADS = 2
"""Worker threads that parse and validate large documents. Their own pool, not the
loop's default executor: a flood of large documents queues here, not in front of
the subgraphs' file reads. More would not help: parsing holds the GIL."""

_prepare_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _prepare_pool
    if _prepare_pool is None:
        _prepare_pool = concurrent.futures.ThreadPoolExecutor(
            PREPARE_THREADS, thread_name_prefix="gateway-prepare"
        )
    return _prepare_pool


_Key = tuple[bytes, "str | None"]


_RECENT_CHARS = 2048
_RECENT_HASHES: LRU[str, bytes] = LRU(512, 512 * (_RECENT_CHARS + 100))
"""Short documents' hashes: clients repeat a few documents over and over."""


def document_hash(query: str) -> bytes:
    """The cache key of a document's text (the text itself is never a key of the
    caches; only short texts are remembered here, a bounded few)."""
    if len(query) > _RECENT_CHARS:
        return hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest()
    found = _RECENT_HASHES.get(query)
    if found is None:
        found = hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest()
        _RECENT_HASHES.put(query, found, len(query) + 100)
    return found


class OperationCache:
    """Parses and validates documents against one schema, once per
    (text, operationName); least recently used entries are dropped when there are
    more than ``maxsize`` or they hold more than ``max_bytes`` (estimated).

    Before validation a document must pass ``limits`` (``gateway.limits``): the
    parser stops at ``max_tokens``, then depth, aliases, root fields and total fields
    are counted in one cheap pass, so validation (quadratic in the worst case) only
    sees bounded documents. Failures are cached too, as payloads keyed by the
    document's hash: a repeated bad document is not parsed again, and each request
    gets its own fresh ``OperationError``.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        maxsize: int = 1024,
        *,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        limits: OperationLimits | None = None,
    ) -> None:
        self.schema = schema
        self.limits = limits if limits is not None else OperationLimits()
        self._entries: LRU[_Key, Operation | _Failure] = LRU(maxsize, max_bytes)
        self._pending: dict[_Key, asyncio.Future[Operation | _Failure]] = {}
        self.parse_count = 0
        """Documents parsed and validated so far (cache misses)."""

    @property
    def maxsize(self) -> int:
        return self._entries.maxsize

    @property
    def entries(self) -> LRU[_Key, Operation | _Failure]:
        """The cache itself (sizes and counters, for tests and metrics)."""
        return self._entries

    @staticmethod
    def _checked(query: str | None) -> str:
        if query is None:
            raise BadRequestError("the request has no 'query'")
        if not isinstance(query, str):
            raise BadRequestError("'query' must be a string")
        return query

    def get(self, query: str | None, operation_name: str | None = None) -> Operation:
        """The operation, parsed and validated on this thread on a miss."""
        query = self._checked(query)
        key = (document_hash(query), operation_name)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._build(query, operation_name, key[0])
            self._store(key, entry, query)
        if isinstance(entry, _Failure):
            raise entry.error()
        return entry

    async def get_async(
        self, query: str | None, operation_name: str | None = None
    ) -> Operation:
        """As ``get``; a miss on a document over ``OFF_LOOP_CHARS`` is parsed and
        validated in a worker thread (concurrent misses for it share one)."""
        query = self._checked(query)
        if len(query) <= OFF_LOOP_CHARS:
            return self.get(query, operation_name)
        key = (document_hash(query), operation_name)
        entry = self._entries.get(key)
        if entry is None:
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.get_running_loop().run_in_executor(
                    _pool(), self._build, query, operation_name, key[0]
                )
                self._pending[key] = pending
                pending.add_done_callback(partial(self._settle, key, query))
            # Shielded: a client that goes away does not waste the work done for
            # it; the result is cached for the next one.
            entry = await asyncio.shield(pending)
        if isinstance(entry, _Failure):
            raise entry.error()
        return entry

    def _settle(
        self, key: _Key, query: str, done: asyncio.Future[Operation | _Failure]
    ) -> None:
        self._pending.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._store(key, done.result(), query)

    def _store(self, key: _Key, entry: Operation | _Failure, query: str) -> None:
        nbytes = (
            entry.nbytes()
            if isinstance(entry, _Failure)
            else _ENTRY_OVERHEAD + AST_BYTES_PER_CHAR * len(query)
        )
        self._entries.put(key, entry, nbytes)

    def _build(
        self, query: str, operation_name: str | None, digest: bytes
    ) -> Operation | _Failure:
        self.parse_count += 1
        limits = self.limits
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError as exc:
            if is_token_limit_error(exc.message):
                return _Failure.of(
                    OperationError(
                        f"the document has more than {limits.max_tokens} tokens",
                        code="MAX_TOKENS_LIMIT",
                    )
                )
            return _Failure(
                exc.message,
                "GRAPHQL_PARSE_FAILED",
                tuple(_error_dicts([exc], "GRAPHQL_PARSE_FAILED")),
            )
        try:
            check_document(document, limits)
        except OperationError as exc:
            return _Failure.of(exc)
        errors = validate(self.schema, document)
        if errors:
            return _Failure(
                errors[0].message,
                "GRAPHQL_VALIDATION_FAILED",
                tuple(_error_dicts(errors, "GRAPHQL_VALIDATION_FAILED")),
            )
        try:
            operation = _select_operation(document, operation_name, query, digest)
        except OperationError as exc:
            return _Failure.of(exc)
        cost, dynamic = complexity(
            self.schema,
            operation.definition,
            operation.fragments,
            variables=None,
            default_list_size=limits.default_list_size,
        )
        if dynamic:
            return replace(operation, complexity=None)
        try:
            _check_complexity(cost, limits)
        except OperationError as exc:
            return _Failure.of(exc)
        return replace(operation, complexity=cost)


def _check_complexity(cost: int, limits: OperationLimits) -> None:
    if limits.complexity is not None and cost > limits.complexity:
        raise OperationError(
            f"the operation's estimated complexity is {cost}; "
            f"the limit is {limits.complexity}",
            code="MAX_COMPLEXITY_LIMIT",
        )


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
    restriction: Any = None
    """``gateway.authorization.Restriction``: the operation as the request's token
    may run it (``None``: all of it)."""


def _finish(
    operations: OperationCache, operation: Operation, request: GraphQLRequest
) -> Prepared:
    variables = coerce_variables(operations.schema, operation, request.variables)
    limits = operations.limits
    if operation.complexity is None and limits.complexity is not None:
        # List sizes come from variables: the estimate is this request's.
        cost, _ = complexity(
            operations.schema,
            operation.definition,
            operation.fragments,
            variables=variables,
            default_list_size=limits.default_list_size,
        )
        _check_complexity(cost, limits)
    return Prepared(request, operation, variables)


def prepare(operations: OperationCache, request: GraphQLRequest) -> Prepared:
    """The one prepare path: parse and validate (cached, within
    ``operations.limits``), select the operation, coerce the variables. Raises
    ``OperationError`` / ``BadRequestError``.

    The gateway prepares against its client schema, a standalone subgraph server
    against the subgraph's schema.
    """
    operation = operations.get(request.query, request.operation_name)
    return _finish(operations, operation, request)


async def prepare_async(
    operations: OperationCache, request: GraphQLRequest
) -> Prepared:
    """``prepare`` for request handlers: a large document is parsed and validated
    off the event loop (``OperationCache.get_async``)."""
    operation = await operations.get_async(request.query, request.operation_name)
    return _finish(operations, operation, request)
