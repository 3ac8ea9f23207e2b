"""OVERRIDE_LABEL_IGNORED (a hint): progressive ``@override(label:)`` is applied in
full; the gateway does not split traffic."""

from __future__ import annotations

from gateway.composition.context import CompositionContext

__all__ = ["override_label_ignored"]


def override_label_ignored(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        if definition.override_label is not None:
            context.issues.hint(
                "OVERRIDE_LABEL_IGNORED",
                f"@override on {merged_type.name}.{merged_field.name} has a label; "
                "the gateway applies the override fully",
                definition.subgraph.name,
            )
