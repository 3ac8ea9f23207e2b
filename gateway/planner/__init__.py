"""Query planning: the query graph, path finding, fetch steps, plan nodes, caching.

See docs/federation.md for how a plan is chosen.
"""

from __future__ import annotations

from gateway.planner.caching import CachingQueryPlanner
from gateway.planner.nodes import (
    EntityPart,
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
    plan_to_json,
    print_plan,
)
from gateway.planner.planner import QueryPlanner
from gateway.planner.query_graph import QueryGraph

__all__ = [
    "CachingQueryPlanner",
    "EntityPart",
    "Fetch",
    "Flatten",
    "Parallel",
    "PlanNode",
    "QueryGraph",
    "QueryPlan",
    "QueryPlanner",
    "RepresentationField",
    "Sequence",
    "ShapeField",
    "ShapeSelection",
    "Subscription",
    "plan_to_json",
    "print_plan",
]
