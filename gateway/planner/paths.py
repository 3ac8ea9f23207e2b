"""PathFinder: the cheapest paths through the query graph to a field.

Cost is (fetches, hops), compared in that order. From a node ``(T, S)`` a field is
either resolved by ``S`` itself (no fetch) or reached through key edges: a shortest
path search (Dijkstra over the subgraphs, where each key edge costs one fetch plus
whatever its condition needs) to a subgraph that resolves the field, its
``@requires`` included, and its whole selection counted at the end. Conditions (key
fields, required fields) are paths of their own, found the same way; a field whose
search is already under way is not used to reach itself.

Results are memoised for one plan (the shapes they depend on live as long).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import ClassVar

from graphql import SelectionSetNode

from gateway.planner.nodes import ShapeField, ShapeSelection
from gateway.planner.query_graph import FieldEdge, KeyEdge, QueryGraph, field_set_names

__all__ = ["UNREACHABLE", "ZERO", "Cost", "PathFinder", "Route"]

_TYPENAME = "__typename"


@dataclass(frozen=True, slots=True, order=True)
class Cost:
    """Fetches, then hops (edges taken), then fields fetched through entity
    steps (the later a plan jumps, the less it sends along): lower is better."""

    fetches: int
    hops: int
    fields: int = 0

    INFINITE: ClassVar[int] = 1_000_000

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.fetches + other.fetches,
            self.hops + other.hops,
            self.fields + other.fields,
        )


ZERO = Cost(0, 0)
UNREACHABLE = Cost(Cost.INFINITE, 0)


def _size(shape: ShapeSelection) -> int:
    """How many fields ``shape`` selects, nested ones included."""
    return 1 + sum(
        _size(f.selection) if f.selection is not None else 1
        for fields in shape.fields_by_type.values()
        for f in fields
    )


@dataclass(frozen=True, slots=True)
class Route:
    """Key edges to take from the current node, then ``edge`` resolves the field."""

    jumps: tuple[KeyEdge, ...]
    edge: FieldEdge
    cost: Cost


class PathFinder:
    """Path and cost queries on a ``QueryGraph`` for one plan."""

    def __init__(self, graph: QueryGraph) -> None:
        self.graph = graph
        self._routes: dict[tuple[object, ...], Route | None] = {}
        self._selections: dict[tuple[object, ...], Cost] = {}
        self._busy: set[tuple[str, str, str]] = set()
        self._cut = 0
        """Searches cut short by ``_busy`` so far: results computed while one was
        are not memoised (they depend on what was under way)."""

    # -- edges at one node -------------------------------------------------------

    def local_edge(
        self,
        subgraph: str,
        type_name: str,
        name: str,
        provided: SelectionSetNode | None,
    ) -> FieldEdge | None:
        """The field edge out of ``(type_name, subgraph)``: the subgraph resolves
        the field, or the enclosing ``@provides`` covers it there."""
        edge = self.graph.field(type_name, subgraph, name)
        if edge is not None:
            return edge
        if provided is not None and name in field_set_names(provided, type_name):
            named = self.graph.supergraph.schema.get_type(type_name)
            fields = getattr(named, "fields", None) or {}
            if name in fields:
                target = fields[name].type
                while hasattr(target, "of_type"):
                    target = target.of_type
                return FieldEdge(subgraph, type_name, name, target.name)
        return None

    @staticmethod
    def nested_provided(
        edge: FieldEdge, provided: SelectionSetNode | None, type_name: str
    ) -> SelectionSetNode | None:
        """What ``@provides`` covers under the field of ``edge``."""
        if edge.provides is not None:
            return edge.provides
        if provided is None:
            return None
        node = field_set_names(provided, type_name).get(edge.name)
        return node.selection_set if node is not None else None

    # -- costs -------------------------------------------------------------------

    def selection_cost(
        self,
        subgraph: str,
        shape: ShapeSelection,
        local_type: str,
        provided: SelectionSetNode | None,
    ) -> Cost:
        """What planning ``shape`` from ``(local_type, subgraph)`` costs."""
        memo = (subgraph, id(shape), local_type, id(provided))
        found = self._selections.get(memo)
        if found is not None:
            return found
        cut = self._cut
        if shape.abstract and self.graph.is_interface_object(subgraph, local_type):
            types = [t for t, fields in shape.fields_by_type.items() if fields]
            total = Cost(1, 1)  # the implementing type is learnt elsewhere
            objects = {t: local_type for t in types}
        elif shape.abstract:
            possible = self.graph.possible_types(subgraph, local_type)
            if not possible and local_type in shape.fields_by_type:
                possible = frozenset((local_type,))
            objects = {t: t for t in shape.fields_by_type if t in possible}
            total = ZERO
        else:
            objects = {shape.type_name: shape.type_name}
            total = ZERO
        entered: set[str] = set()
        for type_name, as_type in objects.items():
            for field in shape.fields_by_type[type_name]:
                if field.local or field.name == _TYPENAME:
                    continue
                cost, first = self._field(subgraph, as_type, field, provided)
                if cost.fetches >= Cost.INFINITE:
                    total = UNREACHABLE
                    break
                if first is not None and first in entered:
                    cost = cost + Cost(-1, 0)  # that step exists already
                elif first is not None:
                    entered.add(first)
                total = total + cost
        if self._cut == cut:
            self._selections[memo] = total
        return total

    def field_cost(
        self,
        subgraph: str,
        type_name: str,
        field: ShapeField,
        provided: SelectionSetNode | None,
    ) -> Cost:
        return self._field(subgraph, type_name, field, provided)[0]

    def _field(
        self,
        subgraph: str,
        type_name: str,
        field: ShapeField,
        provided: SelectionSetNode | None,
    ) -> tuple[Cost, str | None]:
        edge = self.local_edge(subgraph, type_name, field.name, provided)
        local: Cost | None = None
        if edge is not None and edge.requires is None:
            local = (
                self.selection_cost(
                    subgraph,
                    field.selection,
                    edge.target,
                    self.nested_provided(edge, provided, type_name),
                )
                if field.selection is not None
                else ZERO
            )
            if local.fetches == 0:
                return local, None
        route = self.route(subgraph, type_name, field.name, field.selection, provided)
        if route is not None and (local is None or route.cost < local):
            return route.cost, route.jumps[0].subgraph
        if local is not None:
            return local, None
        return UNREACHABLE, None

    def edge_cost(
        self,
        subgraph: str,
        type_name: str,
        edge: KeyEdge,
        provided: SelectionSetNode | None,
    ) -> Cost | None:
        """Taking key ``edge`` from ``(type_name, subgraph)``: one fetch and its
        condition."""
        condition = self._condition(
            subgraph,
            type_name,
            edge.key.selection,
            provided,
            frozenset({edge.subgraph}),
        )
        return None if condition is None else condition + Cost(1, 1)

    def _condition(
        self,
        subgraph: str,
        type_name: str,
        fields: SelectionSetNode,
        provided: SelectionSetNode | None,
        avoid: frozenset[str],
        have: frozenset[str] = frozenset(),
    ) -> Cost | None:
        total = ZERO
        entered: set[str] = set()
        names = field_set_names(fields, type_name)
        for name, node in names.items():
            if name in have:
                continue
            edge = self.local_edge(subgraph, type_name, name, provided)
            if edge is not None and edge.requires is None:
                if node.selection_set is not None:
                    nested = self._condition(
                        subgraph,
                        edge.target,
                        node.selection_set,
                        self.nested_provided(edge, provided, type_name),
                        avoid,
                    )
                    if nested is None:
                        return None
                    total = total + nested
                continue
            route = self.route(subgraph, type_name, name, None, provided, avoid)
            if route is None:
                return None
            first = route.jumps[0].subgraph
            fetches = route.cost.fetches - (1 if first in entered else 0)
            entered.add(first)
            # A condition is fetched beside the path: it adds fetches, not hops.
            total = total + Cost(fetches, 0)
        return total

    # -- paths -------------------------------------------------------------------

    def route(
        self,
        start: str,
        type_name: str,
        name: str,
        shape: ShapeSelection | None,
        provided: SelectionSetNode | None,
        avoid: frozenset[str] = frozenset(),
        target: str | None = None,
    ) -> Route | None:
        """The cheapest key edges from ``(type_name, start)`` to a subgraph that
        resolves ``type_name.name`` (and ``shape`` under it; ``target`` only, if
        given), never entering a subgraph in ``avoid``; ``None`` when there is no
        such path."""
        memo = (start, type_name, name, id(shape), id(provided), avoid, target)
        if memo in self._routes:
            return self._routes[memo]
        busy = (start, type_name, name)
        if busy in self._busy:
            self._cut += 1
            return None
        self._busy.add(busy)
        cut = self._cut
        try:
            found = self._search(start, type_name, name, shape, provided, avoid, target)
        finally:
            self._busy.discard(busy)
        if self._cut == cut:
            self._routes[memo] = found
        return found

    def _search(
        self,
        start: str,
        type_name: str,
        name: str,
        shape: ShapeSelection | None,
        provided: SelectionSetNode | None,
        avoid: frozenset[str],
        only: str | None,
    ) -> Route | None:
        targets = {
            e.subgraph: e
            for e in self.graph.sources(type_name, name)
            if only is None or e.subgraph == only
        }
        if not targets:
            return None
        entries = self.graph.keys(type_name)
        if not entries:
            return None
        counter = itertools.count()
        heap: list[tuple[Cost, int, str, tuple[KeyEdge, ...], bool]] = [
            (ZERO, next(counter), start, (), False)
        ]
        settled: set[tuple[str, bool]] = set()
        best: Route | None = None
        while heap:
            cost, _, here, jumps, entered = heapq.heappop(heap)
            if (here, entered) in settled:
                continue
            settled.add((here, entered))
            if best is not None and not cost < best.cost:
                break
            here_provided = provided if not jumps else None
            have = frozenset(
                n
                for edge in jumps
                for n in field_set_names(edge.key.selection, type_name)
            )
            for edge in entries:
                there = edge.subgraph
                if there in avoid or (there, True) in settled:
                    continue
                target = targets.get(there)
                if there == here and (
                    entered or target is None or target.requires is None
                ):
                    continue  # entering the same subgraph again only serves @requires
                condition = self._condition(
                    here,
                    type_name,
                    edge.key.selection,
                    here_provided,
                    avoid | {there},
                    have,
                )
                if condition is None:
                    continue
                reached = cost + Cost(1, 1) + condition
                if target is not None:
                    total: Cost | None = reached
                    if target.requires is not None:
                        required = self._condition(
                            here, type_name, target.requires, here_provided, avoid, have
                        )
                        total = None if required is None else reached + required
                    if total is not None and shape is not None:
                        total = (
                            total
                            + self.selection_cost(
                                there, shape, target.target, target.provides
                            )
                            + Cost(0, 0, _size(shape))
                        )
                    elif total is not None:
                        total = total + Cost(0, 0, 1)
                    if (
                        total is not None
                        and total.fetches < Cost.INFINITE
                        and (best is None or total < best.cost)
                    ):
                        best = Route((*jumps, edge), target, total)
                heapq.heappush(
                    heap, (reached, next(counter), there, (*jumps, edge), True)
                )
        return best
