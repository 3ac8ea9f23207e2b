"""FROM_SUBGRAPH_DOES_NOT_EXIST (a hint): ``@override(from:)`` naming no subgraph has
no effect."""

from __future__ import annotations

from gateway.composition.context import CompositionContext

__all__ = ["from_subgraph_does_not_exist"]


def from_subgraph_does_not_exist(context: CompositionContext) -> None:
    known = {s.name for s in context.subgraphs}
    for merged_type, merged_field, definition in context.definitions():
        source = definition.override_from
        if source is None or source in known:
            continue
        context.issues.hint(
            "FROM_SUBGRAPH_DOES_NOT_EXIST",
            f"@override(from: {source!r}) on {merged_type.name}.{merged_field.name}: "
            f"there is no subgraph {source!r}; the directive has no effect",
            definition.subgraph.name,
        )
