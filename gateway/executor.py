"""Executor: walks a QueryPlan, merges subgraph results, shapes the client response.

Entity fetches gather every object at their path into one deduplicated
``_entities`` call. Subgraph errors are re-pathed to client paths and tagged with
``extensions.serviceName``; a transport failure becomes an error at the fetch's
paths and the rest of the data is kept. The response is completed against the client
schema: aliases, field order, ``__typename``, and null propagation
(https://spec.graphql.org/October2021/#sec-Handling-Field-Errors).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
)

from gateway.errors import SubgraphBadResponseError, SubgraphError
from gateway.masking import ErrorPolicy
from gateway.plan import (
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    QueryPlan,
    RepresentationField,
    Sequence,
    ShapeField,
    ShapeSelection,
    Subscription,
)
from gateway.transports.base import (
    RequestContext,
    SubgraphRequest,
    SubgraphResult,
    Transport,
)

__all__ = ["Executor", "merge"]

logger = logging.getLogger("gateway.executor")

_MISSING = object()
_NULL = object()
"""A non-null field is null: its parent becomes null (propagates upwards)."""

_Path = tuple[str | int, ...]
_Link = tuple[Any, str | int] | None
"""A response path while shaping: ``(parent link, key)``, built without copying."""


def _path_of(link: _Link) -> list[str | int]:
    path: list[str | int] = []
    while link is not None:
        link, key = link
        path.append(key)
    path.reverse()
    return path


def merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """Deep-merge ``source`` into ``target`` (objects by key, lists item by item)."""
    for key, value in source.items():
        current = target.get(key, _MISSING)
        if current is _MISSING or current is None:
            target[key] = value
        elif type(current) is dict and type(value) is dict:
            merge(current, value)
        elif type(current) is list and type(value) is list:
            _merge_lists(current, value)
        else:
            target[key] = value


def _merge_lists(target: list[Any], source: list[Any]) -> None:
    if len(target) != len(source):
        target[:] = source
        return
    for index, (current, value) in enumerate(zip(target, source, strict=True)):
        if type(current) is dict and type(value) is dict:
            merge(current, value)
        elif type(current) is list and type(value) is list:
            _merge_lists(current, value)
        elif current is None:
            target[index] = value


def _collect(
    data: dict[str, Any], path: tuple[str, ...]
) -> list[tuple[dict[str, Any], _Path]]:
    """The objects found at ``path`` (``"@"``: every list item; nulls skipped)."""
    current: list[tuple[Any, _Path]] = [(data, ())]
    for segment in path:
        found: list[tuple[Any, _Path]] = []
        if segment == "@":
            for value, at in current:
                if type(value) is list:
                    found.extend(
                        (item, (*at, index))
                        for index, item in enumerate(value)
                        if item is not None
                    )
        else:
            for value, at in current:
                if type(value) is dict:
                    item = value.get(segment)
                    if item is not None:
                        found.append((item, (*at, segment)))
        current = found
    return [(value, at) for value, at in current if type(value) is dict]


def _representation(value: Any, fields: tuple[RepresentationField, ...]) -> Any:
    if type(value) is list:
        return [_representation(item, fields) for item in value]
    if type(value) is not dict:
        return value
    out: dict[str, Any] = {}
    for field in fields:
        if field.value is not None:
            out[field.name] = field.value
            continue
        item = value.get(field.name, _MISSING)
        if item is _MISSING:
            raise KeyError(field.name)
        out[field.name] = (
            _representation(item, field.selection) if field.selection else item
        )
    return out


def _fetch_path(
    fetch: Fetch, targets: list[tuple[dict[str, Any], _Path]]
) -> list[str | int]:
    """Where an error about a whole entity fetch goes: the one object's path, or
    the fetch path up to its first list."""
    if len(targets) == 1:
        return list(targets[0][1])
    end = fetch.path.index("@") if "@" in fetch.path else len(fetch.path)
    return list(fetch.path[:end])


class _Run:
    """The state of one request: merged data and errors so far."""

    __slots__ = ("context", "data", "errors", "variables")

    def __init__(
        self,
        data: dict[str, Any],
        variables: Mapping[str, Any],
        context: RequestContext,
    ) -> None:
        self.data = data
        self.errors: list[dict[str, Any]] = []
        self.variables = variables
        self.context = context


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
        run = _Run({}, variables, context or RequestContext())
        node = plan.node
        if plan.passthrough and isinstance(node, Fetch):
            # One subgraph answers everything exactly as asked: when it reports no
            # errors its data is the response; otherwise shape it as usual.
            result = await self._root_fetch(node, run)
            if result is not None and not result.get("errors"):
                data = result.get("data")
                if type(data) is dict:
                    return {"data": data}
            return self.complete(plan.shape, run.data, run.errors)
        if plan.introspection is not None:
            self._introspect(plan, run)
        if node is not None:
            await self._node(node, run)
        return self.complete(plan.shape, run.data, run.errors)

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
            dict(event.get("data") or {}), variables, context or RequestContext()
        )
        run.errors.extend(
            self.errors.subgraph_error(e, service) for e in event.get("errors") or ()
        )
        if isinstance(node, Subscription) and node.rest is not None and run.data:
            await self._node(node.rest, run)
        return self.complete(plan.shape, run.data, run.errors)

    # -- walking the plan ------------------------------------------------------------

    async def _node(self, node: PlanNode, run: _Run) -> None:
        if isinstance(node, Fetch):
            await self._root_fetch(node, run)
        elif isinstance(node, Flatten):
            await self._entity_fetch(node.node, run)
        elif isinstance(node, Sequence):
            for child in node.nodes:
                await self._node(child, run)
        elif isinstance(node, Parallel):
            await asyncio.gather(*(self._node(child, run) for child in node.nodes))
        else:  # a Subscription's primary is run by the stream, not here
            if node.rest is not None:
                await self._node(node.rest, run)

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
            return await transport.fetch(request)
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
            merge(run.data, data)
        for error in result.get("errors") or ():
            run.errors.append(self.errors.subgraph_error(error, fetch.subgraph))
        return result

    async def _entity_fetch(self, fetch: Fetch, run: _Run) -> None:
        targets = _collect(run.data, fetch.path)
        representations: list[Any] = []
        fan_out: list[list[tuple[dict[str, Any], _Path]]] = []
        seen: dict[Any, int] = {}
        for obj, at in targets:
            fields = fetch.representation.get(obj.get("__typename", ""))
            if fields is None:
                continue
            try:
                representation = _representation(obj, fields)
            except KeyError:
                continue  # the parent fetch failed to deliver a key: nothing to join
            marker: Any = tuple(representation.values())
            try:
                index = seen.get(marker)
            except TypeError:  # nested keys: compare them as JSON
                marker = orjson.dumps(representation)
                index = seen.get(marker)
            if index is None:
                seen[marker] = len(representations)
                representations.append(representation)
                fan_out.append([(obj, at)])
            else:
                fan_out[index].append((obj, at))
        if not representations:
            return
        try:
            result = await self._send(fetch, run, {"representations": representations})
            data = result.get("data")
            entities = data.get("_entities") if isinstance(data, dict) else None
            if entities is not None and (
                not isinstance(entities, list) or len(entities) != len(representations)
            ):
                raise SubgraphBadResponseError(
                    f"subgraph {fetch.subgraph!r} answered {len(entities)} entities "
                    f"for {len(representations)} representations"
                    if isinstance(entities, list)
                    else f"subgraph {fetch.subgraph!r} answered _entities that is "
                    "not a list",
                    service=fetch.subgraph,
                )
        except SubgraphError as exc:
            run.errors.append(exc.to_graphql(_fetch_path(fetch, targets)))
            return
        if entities:
            for index, entity in enumerate(entities):
                if type(entity) is dict:
                    for obj, _ in fan_out[index]:
                        merge(obj, entity)
        for error in result.get("errors") or ():
            self._entity_error(error, fetch, fan_out, run)

    def _entity_error(
        self,
        error: Any,
        fetch: Fetch,
        fan_out: list[list[tuple[dict[str, Any], _Path]]],
        run: _Run,
    ) -> None:
        error = self.errors.subgraph_error(error, fetch.subgraph)
        path = error.get("path")
        if (
            isinstance(path, list)
            and len(path) >= 2
            and path[0] == "_entities"
            and isinstance(path[1], int)
            and 0 <= path[1] < len(fan_out)
        ):
            rest = path[2:]
            for _, at in fan_out[path[1]]:
                run.errors.append({**error, "path": [*at, *rest]})
            return
        # Not about one entity: put it where the fetch merges.
        error["path"] = _fetch_path(fetch, [t for ts in fan_out for t in ts])
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
            merge(run.data, {k: v for k, v in result.data.items() if k in local})

    # -- shaping ---------------------------------------------------------------------

    def complete(
        self,
        shape: ShapeSelection,
        data: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Shape merged ``data`` to the client's selection, with null propagation."""
        completed = self._object(shape, data, None, errors)
        body: dict[str, Any] = {"data": None if completed is _NULL else completed}
        if errors:
            body["errors"] = errors
        return body

    def _object(
        self,
        shape: ShapeSelection,
        value: dict[str, Any],
        path: _Link,
        errors: list[dict[str, Any]],
    ) -> Any:
        if shape.abstract:
            type_name = value.get("__typename")
            fields = shape.fields_by_type.get(type_name)  # type: ignore[arg-type]
            if fields is None:
                errors.append(
                    {
                        "message": f"a subgraph returned {type_name!r}, which is not "
                        f"a possible type of {shape.type_name}",
                        "path": _path_of(path),
                        "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
                    }
                )
                return None
        else:
            type_name = shape.type_name
            fields = shape.fields_by_type[type_name]
        out: dict[str, Any] = {}
        for field in fields:
            key = field.response_key
            if field.leaf:
                item = value.get(field.data_key)
                if item is None and field.non_null:
                    self._null_error((path, key), errors, field)
                    return _NULL
                out[key] = item
            elif field.name == "__typename":
                out[key] = type_name
            elif field.local:
                out[key] = value.get(field.data_key)
            else:
                completed = self._value(
                    field.type, field, value.get(field.data_key), (path, key), errors
                )
                if completed is _NULL:
                    return _NULL
                out[key] = completed
        return out

    def _value(
        self,
        type_: GraphQLOutputType,
        field: ShapeField,
        value: Any,
        path: _Link,
        errors: list[dict[str, Any]],
    ) -> Any:
        if isinstance(type_, GraphQLNonNull):
            completed = self._nullable(type_.of_type, field, value, path, errors)
            if completed is None:
                self._null_error(path, errors, field)
                return _NULL
            return completed
        completed = self._nullable(type_, field, value, path, errors)
        return None if completed is _NULL else completed

    def _nullable(
        self,
        type_: GraphQLOutputType,
        field: ShapeField,
        value: Any,
        path: _Link,
        errors: list[dict[str, Any]],
    ) -> Any:
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            if type(value) is not list:
                errors.append(self._bad_value(path, "a list"))
                return None
            items = []
            item_type = type_.of_type
            selection = field.selection
            if selection is None and not isinstance(
                item_type, (GraphQLNonNull, GraphQLList)
            ):
                return value  # a list of nullable scalars: nothing to complete
            for index, item in enumerate(value):
                if (
                    selection is not None
                    and type(item) is dict
                    and (not isinstance(item_type, (GraphQLNonNull, GraphQLList)))
                ):
                    completed = self._object(selection, item, (path, index), errors)
                    items.append(None if completed is _NULL else completed)
                    continue
                completed = self._value(item_type, field, item, (path, index), errors)
                if completed is _NULL:
                    return _NULL
                items.append(completed)
            return items
        if field.selection is None:
            return value
        if type(value) is not dict:
            errors.append(self._bad_value(path, "an object"))
            return None
        return self._object(field.selection, value, path, errors)

    @staticmethod
    def _bad_value(path: _Link, expected: str) -> dict[str, Any]:
        return {
            "message": f"a subgraph returned a value that is not {expected}",
            "path": _path_of(path),
            "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
        }

    @staticmethod
    def _null_error(
        path: _Link, errors: list[dict[str, Any]], field: ShapeField
    ) -> None:
        here = _path_of(path)
        for error in errors:
            other = error.get("path")
            if isinstance(other, list):
                size = min(len(other), len(here))
                if other[:size] == here[:size]:
                    return  # already explained by a subgraph error on this branch
        errors.append(
            {
                "message": "Cannot return null for non-null field "
                f"{field.parent_type}.{field.name}.",
                "path": here,
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        )
