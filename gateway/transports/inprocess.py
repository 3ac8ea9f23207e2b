"""In-process subgraphs: graphql-core ``execute``/``subscribe`` on a local schema.

A subgraph entry in supergraph.yaml that says ``module: package.module:factory``
instead of ``routing_url`` is loaded by ``gateway.local`` (``factory(options)``
returns a ``LocalSubgraph``). No HTTP, no JSON: the executor's plan carries parsed documents and
the transport runs them directly.

A subscription source may yield ``SourceEvent(id, value)`` instead of plain values:
the id travels with the result as ``extensions.eventId`` (the SSE ``id:`` a client
resumes from). A resumable source reads ``Last-Event-ID`` from the request headers
its context factory receives and replays what came after it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    create_source_event_stream,
    execute,
    parse,
)

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphStreamError,
)
from gateway.events import EVENT_ID
from gateway.local.subgraph import LocalSubgraph, SourceEvent
from gateway.masking import ErrorPolicy
from gateway.transports.base import SubgraphRequest, SubgraphResult

__all__ = [
    "InProcessTransport",
    "result_to_dict",
    "subscribe_local",
]


_DEFAULT_POLICY = ErrorPolicy()


def result_to_dict(
    result: ExecutionResult,
    *,
    errors: ErrorPolicy | None = None,
    request_id: str | None = None,
    service: str = "",
) -> SubgraphResult:
    """An ``ExecutionResult`` as the JSON-shaped body a remote subgraph would send;
    exceptions its resolvers did not raise on purpose are logged and masked
    (``ErrorPolicy.local_errors``)."""
    body: SubgraphResult = {"data": result.data}
    if result.errors:
        policy = errors or _DEFAULT_POLICY
        body["errors"] = policy.local_errors(
            result.errors, request_id=request_id, service=service
        )
    if result.extensions:
        body["extensions"] = dict(result.extensions)
    return body


class InProcessTransport:
    """Runs fetches on a ``LocalSubgraph`` in this process."""

    sees_client_headers = True  # its resolvers get the whole RequestContext

    def __init__(
        self, name: str, local: LocalSubgraph, errors: ErrorPolicy | None = None
    ) -> None:
        self.name = name
        self.local = local
        self.errors = errors or _DEFAULT_POLICY
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
        return result_to_dict(
            cast(ExecutionResult, result),
            errors=self.errors,
            request_id=request.context.request_id,
            service=self.name,
        )

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        return subscribe_local(
            self.local,
            self._document(request),
            variables=request.variables,
            operation_name=request.operation_name,
            context=self._context(request),
            service=self.name,
            errors=self.errors,
            request_id=request.context.request_id,
        )


async def _execute_event(
    schema: GraphQLSchema,
    document: DocumentNode,
    root_value: Any,
    context: Any,
    variables: dict[str, Any],
    operation_name: str | None,
) -> ExecutionResult:
    result = execute(
        schema,
        document,
        root_value=root_value,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
    )
    if inspect.isawaitable(result):
        result = await cast(Awaitable[ExecutionResult], result)
    return cast(ExecutionResult, result)


def _source_error(
    exc: Exception, service: str, policy: ErrorPolicy, request_id: str | None
) -> SubgraphStreamError:
    errors = [policy.source_error(exc, request_id=request_id, service=service)]
    return SubgraphStreamError(
        f"the subscription source of subgraph {service!r} failed: "
        f"{errors[0]['message']}",
        service=service,
        errors=errors,
    )


def subscribe_local(
    local: LocalSubgraph,
    document: DocumentNode,
    *,
    variables: Mapping[str, Any],
    operation_name: str | None,
    context: Any,
    service: str,
    errors: ErrorPolicy | None = None,
    request_id: str | None = None,
) -> AsyncIterator[SubgraphResult]:
    """Run a subscription on ``local``: one result per source event.

    Implements graphql-core's ``subscribe`` (``create_source_event_stream``, then
    ``execute`` per event with the event as root value) so that a ``SourceEvent``
    can be unwrapped: ``execute`` gets its ``value``, the result gets its ``id`` as
    ``extensions.eventId``. A subscription that cannot start yields its errors as
    the one result. A source that raises ends the stream with a
    ``SubgraphStreamError``. Closing the iterator (``aclose()``) closes the source,
    and so does its end, whatever ended it.
    See https://spec.graphql.org/October2021/#sec-Subscription
    """
    # graphql-core only reads them: a dict is used as it is (no copy to hold for
    # the life of the stream).
    variable_values = variables if type(variables) is dict else dict(variables)
    return _LocalSubscription(
        local.schema,
        document,
        variable_values,
        operation_name,
        context,
        service,
        errors or _DEFAULT_POLICY,
        request_id,
    )


class _LocalSubscription:
    """``subscribe_local``'s iterator: an async generator written as a class (a
    real one is registered with the event loop and keeps a frame; an idle gateway
    holds thousands of these)."""

    __slots__ = (
        "_context",
        "_document",
        "_ended",
        "_operation_name",
        "_policy",
        "_request_id",
        "_schema",
        "_service",
        "_source",
        "_variables",
    )

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        operation_name: str | None,
        context: Any,
        service: str,
        policy: ErrorPolicy,
        request_id: str | None,
    ) -> None:
        self._policy = policy
        self._request_id = request_id
        self._schema = schema
        self._document = document
        self._variables = variables
        self._operation_name = operation_name
        self._context = context
        self._service = service
        self._source: AsyncIterator[Any] | None = None
        self._ended = False

    def __aiter__(self) -> _LocalSubscription:
        return self

    async def __anext__(self) -> SubgraphResult:
        if self._ended:
            raise StopAsyncIteration
        try:
            source = self._source
            if source is None:
                outcome = await create_source_event_stream(
                    self._schema,
                    self._document,
                    context_value=self._context,
                    variable_values=self._variables,
                    operation_name=self._operation_name,
                )
                if isinstance(outcome, ExecutionResult):
                    self._ended = True  # its errors are the one result
                    return self._result(outcome)
                source = self._source = aiter(outcome)
            try:
                event = await anext(source)
            except (StopAsyncIteration, SubgraphError):
                raise
            except Exception as exc:
                raise _source_error(
                    exc, self._service, self._policy, self._request_id
                ) from exc
            event_id: str | None = None
            if isinstance(event, SourceEvent):
                event_id, event = event.id, event.value
            result = self._result(
                await _execute_event(
                    self._schema,
                    self._document,
                    event,
                    self._context,
                    self._variables,
                    self._operation_name,
                )
            )
        except BaseException:
            # As a generator's ``finally``: the source is closed before the caller
            # sees the end or the error.
            await self.aclose()
            raise
        if event_id is not None:
            result["extensions"] = {**result.get("extensions", {}), EVENT_ID: event_id}
        return result

    def _result(self, result: ExecutionResult) -> SubgraphResult:
        return result_to_dict(
            result,
            errors=self._policy,
            request_id=self._request_id,
            service=self._service,
        )

    async def aclose(self) -> None:
        self._ended = True
        source, self._source = self._source, None
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
