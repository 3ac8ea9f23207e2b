"""OVERRIDE_FROM_SELF_ERROR: ``@override(from:)`` names another subgraph."""

from __future__ import annotations

from gateway.composition.context import CompositionContext

__all__ = ["override_from_self_error"]


def override_from_self_error(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        if definition.override_from == definition.subgraph.name:
            context.issues.error(
                "OVERRIDE_FROM_SELF_ERROR",
                f"@override on {merged_type.name}.{merged_field.name} names its own "
                f"subgraph {definition.override_from!r}",
                definition.subgraph.name,
            )
