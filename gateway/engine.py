"""Engine: the facade the HTTP server and the CLI call (prepare, plan, execute).

request -> ``prepare`` (parse + validate, cached; variables coerced once) ->
``execute`` (cached plan, then the executor) -> the response body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from gateway.errors import PlanningError
from gateway.events import StreamEvent
from gateway.execution import Executor
from gateway.masking import ErrorPolicy
from gateway.operation import (
    GraphQLRequest,
    OperationCache,
    Prepared,
    prepare,
)
from gateway.planner import CachingQueryPlanner
from gateway.planner.nodes import QueryPlan
from gateway.subscriptions import Subscriptions
from gateway.supergraph import Supergraph
from gateway.transports.base import RequestContext, Transport

__all__ = ["Engine", "Prepared"]

logger = logging.getLogger("gateway.engine")


class Engine:
    """Plans and runs operations over one supergraph and its subgraph transports."""

    def __init__(
        self,
        supergraph: Supergraph,
        transports: Mapping[str, Transport],
        *,
        document_cache_size: int = 1024,
        plan_cache_size: int = 1024,
        errors: ErrorPolicy | None = None,
    ) -> None:
        self.supergraph = supergraph
        self.transports = transports
        self.errors = errors or ErrorPolicy()
        self.operations = OperationCache(supergraph.schema, document_cache_size)
        self.planner = CachingQueryPlanner(supergraph, plan_cache_size)
        self.executor = Executor(supergraph.schema, transports, self.errors)
        self._subscriptions: Subscriptions | None = None

    @property
    def sees_client_headers(self) -> bool:
        """Whether some subgraph sees the whole client request (in-process ones)."""
        return any(t.sees_client_headers for t in self.transports.values())

    def prepare(self, request: GraphQLRequest) -> Prepared:
        """Parse, validate and coerce. Raises ``OperationError`` / ``BadRequestError``."""
        return prepare(self.operations, request)

    def plan_for(self, prepared: Prepared) -> QueryPlan:
        """The (cached) plan of a prepared request. Raises ``PlanningError``."""
        return self.planner.plan(prepared.operation, prepared.variables)

    def plan_document(
        self,
        query: str,
        operation_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> QueryPlan:
        """The plan of a document without running it (``gateway plan``): variables
        are optional; ``@skip``/``@include`` without a value count as included."""
        operation = self.operations.get(query, operation_name)
        return self.planner.plan(operation, dict(variables or {}))

    async def execute(
        self, prepared: Prepared, context: RequestContext | None = None
    ) -> dict[str, Any]:
        """The response body. Subgraph faults become errors in it; never raises
        for them."""
        try:
            plan = self.plan_for(prepared)
        except PlanningError as exc:
            logger.error("cannot plan %r: %s", prepared.operation.name, exc.message)
            return {"data": None, "errors": [exc.to_graphql()]}
        except Exception as exc:  # a planner bug must not become a traceback
            error = self.errors.unexpected(
                exc,
                request_id=context.request_id if context is not None else None,
                what=f"planning {prepared.operation.name or 'the operation'}",
            )
            return {"data": None, "errors": [error]}
        return await self.executor.execute(plan, prepared.variables, context)

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(
        self,
        prepared: Prepared,
        context: RequestContext | None = None,
        *,
        last_event_id: str | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of a subscription (``gateway.subscriptions``): identical
        upstream subscriptions share one stream; ``last_event_id`` resumes."""
        subscriptions = self._subscriptions
        if subscriptions is None:
            subscriptions = self._subscriptions = Subscriptions(self.executor)
        return subscriptions.subscribe(
            lambda: self.plan_for(prepared),
            prepared.variables,
            context,
            last_event_id=last_event_id,
        )
