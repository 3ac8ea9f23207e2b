"""Engine: the facade the HTTP server and the CLI call (prepare, plan, execute).

request -> ``prepare`` (parse + validate, cached; variables coerced once) ->
``execute`` (cached plan, then the executor) -> the response body.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from graphql import GraphQLObjectType

from gateway import tracing
from gateway.authentication.identity import Identity
from gateway.authorization import Authorizer, Restriction
from gateway.caching import DEFAULT_CACHE_BYTES, LRU
from gateway.errors import PlanningError
from gateway.events import StreamEvent
from gateway.execution import Executor
from gateway.limits import OperationLimits
from gateway.masking import ErrorPolicy
from gateway.operation import (
    GraphQLRequest,
    OperationCache,
    Prepared,
    document_hash,
    prepare,
    prepare_async,
)
from gateway.planner import CachingQueryPlanner
from gateway.planner.caching import PLAN_BYTES_PER_CHAR
from gateway.planner.nodes import QueryPlan
from gateway.planner.shape import ShapeBuilder
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
        document_cache_bytes: int = DEFAULT_CACHE_BYTES,
        plan_cache_bytes: int = DEFAULT_CACHE_BYTES,
        limits: OperationLimits | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.supergraph = supergraph
        self.transports = transports
        self._sees_client_headers: bool | None = None
        self.errors = errors or ErrorPolicy()
        self.operations = OperationCache(
            supergraph.schema,
            document_cache_size,
            max_bytes=document_cache_bytes,
            limits=limits,
        )
        self.planner = CachingQueryPlanner(
            supergraph, plan_cache_size, max_bytes=plan_cache_bytes
        )
        self.executor = Executor(supergraph.schema, transports, self.errors)
        self._subscriptions: Subscriptions | None = None
        self.authorizer = authorizer
        """``gateway.authorization``: ``None`` when no field has a requirement."""
        self._restricted: LRU[tuple[Any, ...], QueryPlan] = LRU(
            plan_cache_size, plan_cache_bytes
        )

    @property
    def sees_client_headers(self) -> bool:
        """Whether some subgraph sees the whole client request (in-process ones)."""
        seen = self._sees_client_headers
        if seen is None:  # the transports are the engine's for its whole life
            seen = self._sees_client_headers = any(
                t.sees_client_headers for t in self.transports.values()
            )
        return seen

    def prepare(
        self, request: GraphQLRequest, identity: Identity | None = None
    ) -> Prepared:
        """Parse, validate and coerce, then take out what ``identity`` may not see
        (``gateway.authorization``). Raises ``OperationError`` /
        ``BadRequestError`` / ``UnauthorizedError`` (``reject_unauthorized``)."""
        return self._restrict(prepare(self.operations, request), identity)

    async def prepare_async(
        self, request: GraphQLRequest, identity: Identity | None = None
    ) -> Prepared:
        """``prepare`` for request handlers: a large document is parsed and
        validated in a worker thread, so the event loop keeps serving others."""
        prepared = await prepare_async(self.operations, request)
        return self._restrict(prepared, identity)

    def _restrict(self, prepared: Prepared, identity: Identity | None) -> Prepared:
        if self.authorizer is None:
            return prepared
        restriction = self.authorizer.restrict(prepared.operation, identity)
        if restriction is None:
            return prepared
        return dataclasses.replace(prepared, restriction=restriction)

    def plan_for(self, prepared: Prepared) -> QueryPlan:
        """The (cached) plan of a prepared request. Raises ``PlanningError``."""
        if prepared.restriction is not None:
            return self._restricted_plan(prepared, prepared.restriction)
        return self.planner.plan(prepared.operation, prepared.variables)

    def _restricted_plan(
        self, prepared: Prepared, restriction: Restriction
    ) -> QueryPlan:
        """The plan of the filtered operation, shaped as the client's operation
        (the removed fields answered null) and carrying their errors."""
        original = restriction.original
        conditions = tuple(
            prepared.variables.get(n) for n in original.condition_variables
        )
        digest = original.hash or document_hash(original.query)
        key = (digest, original.name, restriction.decisions, conditions)
        plan = self._restricted.get(key)
        if plan is not None:
            return plan
        root = {
            "query": self.supergraph.schema.query_type,
            "mutation": self.supergraph.schema.mutation_type,
            "subscription": self.supergraph.schema.subscription_type,
        }[original.kind]
        if not isinstance(root, GraphQLObjectType):
            raise PlanningError(f"the schema has no {original.kind} type")
        shape = ShapeBuilder(self.supergraph, original, prepared.variables).build(root)
        if restriction.operation is None:
            plan = QueryPlan(original.kind, None, shape, errors=restriction.errors)
        else:
            filtered = self.planner.plan(restriction.operation, prepared.variables)
            plan = dataclasses.replace(
                filtered, shape=shape, passthrough=False, errors=restriction.errors
            )
        self._restricted.put(
            key,
            plan,
            PLAN_BYTES_PER_CHAR * len(original.query) + plan.program.nbytes,
        )
        return plan

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
            with tracing.span("plan") as span:
                planned = self.planner.plan_count
                plan = self.plan_for(prepared)
                if span is not None:
                    hit = self.planner.plan_count == planned
                    span.set_attribute("graphql.plan.cache", "hit" if hit else "miss")
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
