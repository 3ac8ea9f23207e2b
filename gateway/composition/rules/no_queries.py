"""NO_QUERIES: the composed schema has at least one accessible ``Query`` field."""

from __future__ import annotations

from gateway.composition.context import CompositionContext

__all__ = ["no_queries"]


def no_queries(context: CompositionContext) -> None:
    query = context.merged.get("Query")
    if query is None or not any(not f.inaccessible for f in query.fields.values()):
        context.issues.error(
            "NO_QUERIES",
            "no subgraph defines an accessible field on the Query type",
            *(s.name for s in context.subgraphs),
        )
