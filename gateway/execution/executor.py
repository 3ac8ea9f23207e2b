"""Executor: walks a QueryPlan, fetches from the subgraphs, merges their answers.

Entity fetches gather every object at their path into one deduplicated
``_entities`` call (several paths to one subgraph: one request, one aliased
``_entities`` selection each), with the plan's compiled gather functions
(``gateway.execution.gather``). Subgraph errors are re-pathed to client paths and
tagged with ``extensions.serviceName``; a transport failure becomes an error at the
fetch's paths and the rest of the data is kept. The response is then completed
against the client schema by the plan's compiled program
(``gateway.execution.program``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
)

from gateway.errors import SubgraphBadResponseError, SubgraphError
from gateway.execution.gather import Found, Gathered, Target, path_of
from gateway.execution.merge import Ownership, merge, merge_each
from gateway.execution.program import PlanProgram
from gateway.masking import ErrorPolicy
from gateway.planner.nodes import (
    EntityPart,
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    QueryPlan,
    Sequence,
    Subscription,
)
from gateway.transports.base import (
    RequestContext,
    SharedResult,
    SubgraphRequest,
    SubgraphResult,
    Transport,
)

__all__ = ["Executor"]

logger = logging.getLogger("gateway.execution")

_MISSING = object()
_NULL = object()
"""A non-null field is null: its parent becomes null (propagates upwards)."""


def _fetch_path(path: tuple[str, ...], targets: list[Target]) -> list[str | int]:
    """Where an error about a whole entity fetch goes: the one object's path, or
    the fetch path up to its first list."""
    if len(targets) == 1:
        return path_of(path, targets[0])
    end = path.index("@") if "@" in path else len(path)
    return list(path[:end])


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


class _Run:
    """The state of one request: merged data and errors so far."""

    __slots__ = (
        "context",
        "data",
        "errors",
        "found",
        "owned",
        "program",
        "shared",
        "variables",
    )

    def __init__(
        self,
        data: dict[str, Any],
        variables: Mapping[str, Any],
        context: RequestContext,
        program: PlanProgram,
    ) -> None:
        self.data = data
        self.program = program
        self.owned = Ownership(data)
        """What of ``data`` this run may change (answers may be shared)."""
        self.errors: list[dict[str, Any]] = []
        self.variables = variables
        self.context = context
        self.found: Found = {}
        """The objects gathered at each path, while a walk would find them again
        (``gateway.execution.gather``); unused once ``owned`` is active."""
        self.shared = False
        """Whether a gather made equal objects one (``Gather.share``): they are
        completed once."""


class Executor:
    """Runs plans against the subgraphs' transports."""

    def __init__(
        self,
        schema: GraphQLSchema,
        transports: Mapping[str, Transport],
        errors: ErrorPolicy | None = None,
    ) -> None:
        self.schema = schema
        self.transports = transports
        self.errors = errors or ErrorPolicy()
        """What of a subgraph's errors reaches the client (``gateway.masking``)."""

    async def execute(
        self,
        plan: QueryPlan,
        variables: Mapping[str, Any],
        context: RequestContext | None = None,
    ) -> dict[str, Any]:
        """The response body for ``plan``: ``{"data": ..., "errors": [...]}``
        (``errors`` only when there are some). Never raises for subgraph faults."""
        run = _Run({}, variables, context or RequestContext(), plan.program)
        run.errors.extend(dict(error) for error in plan.errors)
        node = plan.node
        if plan.passthrough and isinstance(node, Fetch):
            # One subgraph answers everything exactly as asked: when it reports no
            # errors its data is the response; otherwise shape it as usual.
            result = await self._root_fetch(node, run)
            if result is not None and not result.get("errors"):
                data = result.get("data")
                if type(data) is dict:
                    return {"data": data}
            return plan.program.complete(run.data, run.errors, run.shared)
        if plan.introspection is not None:
            self._introspect(plan, run)
        if node is not None:
            await self._node(node, run)
        return plan.program.complete(run.data, run.errors, run.shared)

    async def execute_event(
        self,
        plan: QueryPlan,
        event: SubgraphResult,
        variables: Mapping[str, Any],
        context: RequestContext | None = None,
    ) -> dict[str, Any]:
        """One subscription event: run ``plan``'s follow-up fetches into the
        event's data, then shape it like a query response."""
        node = plan.node
        service = node.primary.subgraph if isinstance(node, Subscription) else ""
        run = _Run(
            dict(event.get("data") or {}),
            variables,
            context or RequestContext(),
            plan.program,
        )
        run.owned.share()  # every subscriber of the upstream stream holds the event
        run.errors.extend(dict(error) for error in plan.errors)
        run.errors.extend(
            self.errors.subgraph_error(e, service) for e in event.get("errors") or ()
        )
        if isinstance(node, Subscription) and node.rest is not None and run.data:
            await self._node(node.rest, run)
        return plan.program.complete(run.data, run.errors, run.shared)

    # -- walking the plan ------------------------------------------------------------

    async def _node(self, node: PlanNode, run: _Run) -> None:
        if isinstance(node, Fetch):
            if node.parts:
                await self._entity_parts_fetch(node, run)
            else:
                await self._root_fetch(node, run)
        elif isinstance(node, Flatten):
            await self._entity_fetch(node.node, run)
        elif isinstance(node, Sequence):
            for child in node.nodes:
                await self._node(child, run)
        elif isinstance(node, Parallel):
            await self._parallel(node.nodes, run)
        else:  # a Subscription's primary is run by the stream, not here
            if node.rest is not None:
                await self._node(node.rest, run)

    async def _parallel(self, nodes: tuple[PlanNode, ...], run: _Run) -> None:
        """``asyncio.gather`` of the nodes, the first run in this task (one task
        fewer): each of the others runs in a task of its own; a cancellation
        cancels them all, and any other failure leaves the rest running, as
        ``gather`` does."""
        if not nodes:
            return
        others = [asyncio.ensure_future(self._node(child, run)) for child in nodes[1:]]
        try:
            await self._node(nodes[0], run)
        except BaseException as exc:
            for task in others:
                if isinstance(exc, asyncio.CancelledError):
                    task.cancel()
                else:  # as gather: what else fails is not reported again
                    task.add_done_callback(_retrieve)
            raise
        if len(others) == 1:
            await others[0]
        elif others:
            await asyncio.gather(*others)

    async def _send(
        self, fetch: Fetch, run: _Run, variables: dict[str, Any]
    ) -> SubgraphResult:
        transport = self.transports.get(fetch.subgraph)
        if transport is None:
            raise SubgraphError(
                f"no transport for subgraph {fetch.subgraph!r}",
                service=fetch.subgraph,
                code="SUBGRAPH_UNREACHABLE",
            )
        for name in fetch.variable_usages:
            if name in run.variables:
                variables[name] = run.variables[name]
        request = SubgraphRequest(
            query=fetch.operation,
            variables=variables,
            operation_name=fetch.operation_name,
            document=fetch.document,
            context=run.context,
        )
        try:
            result = await transport.fetch(request)
        except SubgraphError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a transport bug must not fail the request
            masked = self.errors.internal_error(
                exc,
                request_id=run.context.request_id,
                what=f"the fetch from subgraph {fetch.subgraph!r}",
            )
            error = SubgraphError(
                masked.message, service=fetch.subgraph, code=masked.code
            )
            error.request_id = masked.request_id
            raise error from exc
        if type(result) is SharedResult:
            run.owned.share()  # from now on, copy before changing
        return result

    async def _root_fetch(self, fetch: Fetch, run: _Run) -> SubgraphResult | None:
        try:
            result = await self._send(fetch, run, {})
        except SubgraphError as exc:
            definition = fetch.document.definitions[0]
            assert isinstance(definition, OperationDefinitionNode)
            keys = [
                (s.alias or s.name).value
                for s in definition.selection_set.selections
                if isinstance(s, FieldNode)
            ]
            run.errors.extend(exc.to_graphql([key]) for key in keys)
            return None
        data = result.get("data")
        if isinstance(data, dict):
            merge(run.data, data, run.owned)
            if run.found:
                run.program.merged(run.found, (), (data,))
        for error in result.get("errors") or ():
            run.errors.append(self.errors.subgraph_error(error, fetch.subgraph))
        return result

    @staticmethod
    def _gather(node: Fetch | EntityPart, run: _Run) -> Gathered:
        """The objects at ``node``'s path, their deduplicated representations, and
        for each representation the objects it stands for."""
        owned = run.owned
        if owned.active:
            return run.program.gather(node).run(run.data, owned.own)
        gathered = run.program.run_gather(node, run.data, None, run.found)
        if gathered.shared:
            run.shared = True
        return gathered

    async def _entity_fetch(self, fetch: Fetch, run: _Run) -> None:
        found = self._gather(fetch, run)
        if not found.representations:
            return
        await self._entities(
            fetch,
            run,
            {"representations": found.representations},
            [("_entities", found)],
        )

    async def _entity_parts_fetch(self, fetch: Fetch, run: _Run) -> None:
        """Several paths, one request: each part's objects go in its own variable
        and come back under its own alias."""
        variables: dict[str, Any] = {}
        parts: list[tuple[str, Gathered]] = []
        for part in fetch.parts:
            found = self._gather(part, run)
            variables[part.variable] = found.representations
            parts.append((part.alias, found))
        if not any(found.representations for _, found in parts):
            return
        await self._entities(fetch, run, variables, parts)

    async def _entities(
        self,
        fetch: Fetch,
        run: _Run,
        variables: dict[str, Any],
        parts: list[tuple[str, Gathered]],
    ) -> None:
        try:
            result = await self._send(fetch, run, variables)
            data = result.get("data")
            answers = []
            for alias, found in parts:
                entities = data.get(alias) if isinstance(data, dict) else None
                expected = len(found.representations)
                if entities is not None and (
                    not isinstance(entities, list) or len(entities) != expected
                ):
                    raise SubgraphBadResponseError(
                        f"subgraph {fetch.subgraph!r} answered {len(entities)} "
                        f"entities for {expected} representations"
                        if isinstance(entities, list)
                        else f"subgraph {fetch.subgraph!r} answered _entities that "
                        "is not a list",
                        service=fetch.subgraph,
                    )
                answers.append(entities)
        except SubgraphError as exc:
            for _, found in parts:
                if found.targets:
                    run.errors.append(
                        exc.to_graphql(_fetch_path(found.path, found.targets))
                    )
            if not any(found.targets for _, found in parts):
                run.errors.append(exc.to_graphql(_fetch_path(fetch.path, [])))
            return
        owned = run.owned
        for entities, (_, found) in zip(answers, parts, strict=True):
            if entities:
                for targets, entity in zip(found.fan_out, entities, strict=True):
                    if type(entity) is dict:
                        merge_each(targets, entity, owned)
                if run.found:
                    run.program.merged(run.found, found.path, entities)
        by_alias = dict(parts)
        for error in result.get("errors") or ():
            self._entity_error(error, fetch, by_alias, run)

    def _entity_error(
        self,
        error: Any,
        fetch: Fetch,
        parts: Mapping[str, Gathered],
        run: _Run,
    ) -> None:
        error = self.errors.subgraph_error(error, fetch.subgraph)
        path = error.get("path")
        if isinstance(path, list) and len(path) >= 2 and isinstance(path[1], int):
            found = parts.get(path[0]) if isinstance(path[0], str) else None
            if found is not None and 0 <= path[1] < len(found.fan_out):
                rest = path[2:]
                for target in found.fan_out[path[1]]:
                    at_path = path_of(found.path, target)
                    run.errors.append({**error, "path": [*at_path, *rest]})
                return
        # Not about one entity: put it where the fetch merges (the one object's
        # path when there is one).
        merged = [
            (found.path, target)
            for found in parts.values()
            for targets in found.fan_out
            for target in targets
        ]
        if len(merged) == 1:
            error["path"] = path_of(*merged[0])
        else:
            error["path"] = _fetch_path(next(iter(parts.values())).path, [])
        run.errors.append(error)

    def _introspect(self, plan: QueryPlan, run: _Run) -> None:
        assert plan.introspection is not None
        result = execute(
            self.schema,
            plan.introspection,
            root_value={},
            variable_values=dict(run.variables),
        )
        result = cast(ExecutionResult, result)
        if result.data:
            local = {
                f.response_key
                for f in plan.shape.fields_by_type[plan.shape.type_name]
                if f.local
            }
            answered = {k: v for k, v in result.data.items() if k in local}
            merge(run.data, answered, run.owned)
            if run.found:
                run.program.merged(run.found, (), (answered,))
