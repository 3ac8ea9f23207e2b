"""In-process subgraphs: graphql-core ``execute``/``subscribe`` on a local schema.

A subgraph entry in supergraph.yaml that says ``module: package.module:factory``
instead of ``routing_url`` is loaded by calling ``factory(options)``, which returns a
``LocalSubgraph``. No HTTP, no JSON: the executor's plan carries parsed documents and
the transport runs them directly.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    execute,
    parse,
    subscribe,
)

from gateway.errors import ConfigError, SubgraphBadResponseError, SubgraphError
from gateway.transports.base import RequestContext, SubgraphRequest, SubgraphResult

__all__ = [
    "InProcessTransport",
    "LocalSubgraph",
    "load_local_subgraph",
    "result_to_dict",
]


@dataclass(frozen=True, slots=True)
class LocalSubgraph:
    """What an in-process subgraph module hands the gateway.

    ``schema`` is an executable federation subgraph schema (it answers
    ``_service { sdl }`` and ``_entities``); ``sdl`` is that SDL. ``lifespan``, when
    given, is entered once at start-up and exited at shutdown (open a database, start
    background tasks, close subprocesses). ``context`` builds the resolvers'
    ``context_value`` for each request.
    """

    schema: GraphQLSchema
    sdl: str
    lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    context: Callable[[RequestContext], Any] | None = None


SubgraphFactory = Callable[[Mapping[str, Any]], LocalSubgraph]


def load_local_subgraph(
    target: str, options: Mapping[str, Any], *, where: str = "<config>"
) -> LocalSubgraph:
    """Import ``package.module:attribute`` and call it with ``options``.

    The attribute may also be a ``LocalSubgraph`` itself (then ``options`` must be
    empty). Import and factory failures become a ``ConfigError``.
    """
    module_name, _, attribute = target.partition(":")
    attribute = attribute or "create_subgraph"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}") from exc
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if isinstance(obj, LocalSubgraph):
        if options:
            raise ConfigError(f"{target} is not a factory; it takes no options")
        return obj
    if not callable(obj):
        raise ConfigError(f"{target} is neither a LocalSubgraph nor a factory")
    factory = cast(SubgraphFactory, obj)
    try:
        local = factory(options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{target}: {exc}") from exc
    if not isinstance(local, LocalSubgraph):
        raise ConfigError(
            f"{target} returned {type(local).__name__}, not LocalSubgraph"
        )
    return local


def result_to_dict(result: ExecutionResult) -> SubgraphResult:
    """An ``ExecutionResult`` as the JSON-shaped body a remote subgraph would send."""
    body: SubgraphResult = {"data": result.data}
    if result.errors:
        body["errors"] = [dict(error.formatted) for error in result.errors]
    if result.extensions:
        body["extensions"] = dict(result.extensions)
    return body


class InProcessTransport:
    """Runs fetches on a ``LocalSubgraph`` in this process."""

    def __init__(self, name: str, local: LocalSubgraph) -> None:
        self.name = name
        self.local = local
        self._documents: dict[str, DocumentNode] = {}

    def _document(self, request: SubgraphRequest) -> DocumentNode:
        if request.document is not None:
            return request.document
        document = self._documents.get(request.query)
        if document is None:
            try:
                document = parse(request.query)
            except GraphQLError as exc:
                raise SubgraphBadResponseError(
                    f"subgraph {self.name!r} could not parse the query: {exc.message}",
                    service=self.name,
                ) from exc
            if len(self._documents) > 1024:
                self._documents.clear()
            self._documents[request.query] = document
        return document

    def _context(self, request: SubgraphRequest) -> Any:
        if self.local.context is None:
            return {"request": request.context}
        return self.local.context(request.context)

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        document = self._document(request)
        result = execute(
            self.local.schema,
            document,
            variable_values=dict(request.variables),
            operation_name=request.operation_name,
            context_value=self._context(request),
        )
        if inspect.isawaitable(result):
            result = await cast(Awaitable[ExecutionResult], result)
        return result_to_dict(cast(ExecutionResult, result))

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        document = self._document(request)
        outcome = await subscribe(
            self.local.schema,
            document,
            variable_values=dict(request.variables),
            operation_name=request.operation_name,
            context_value=self._context(request),
        )
        if isinstance(outcome, ExecutionResult):
            # Subscription could not start: the errors are the one result.
            yield result_to_dict(outcome)
            return
        iterator = outcome
        try:
            async for result in iterator:
                yield result_to_dict(result)
        except SubgraphError:
            raise
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
