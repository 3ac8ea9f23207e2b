"""QueryPlanner: a validated operation -> a QueryPlan over the supergraph's subgraphs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.operation import Operation
from gateway.planner.builder import PlanBuilder
from gateway.planner.nodes import QueryPlan
from gateway.planner.query_graph import QueryGraph
from gateway.supergraph import Supergraph

__all__ = ["QueryPlanner"]


class QueryPlanner:
    """Plans operations against one ``Supergraph`` on its ``QueryGraph`` (built
    once). Stateless between plans; ``CachingQueryPlanner`` is the cached version
    the engine uses."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.supergraph = supergraph
        self.graph = QueryGraph(supergraph)
        self.plan_count = 0
        """Plans built so far."""

    def plan(
        self, operation: Operation, variables: Mapping[str, Any] | None = None
    ) -> QueryPlan:
        """Plan ``operation``; ``variables`` (coerced) decide ``@skip``/``@include``.
        Raises ``PlanningError`` when a selection cannot be reached."""
        self.plan_count += 1
        return PlanBuilder(self.graph, operation, variables or {}).build()
