"""EXTERNAL_MISSING_ON_BASE: every object field has a subgraph that resolves it
(it is not ``@external`` everywhere)."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import names
from gateway.supergraph import TypeKind

__all__ = ["external_missing_on_base"]


def external_missing_on_base(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.OBJECT:
            continue
        for merged_field in merged_type.fields.values():
            if merged_field.sources:
                continue
            defined_in = [d.subgraph.name for d in merged_field.definitions]
            context.issues.error(
                "EXTERNAL_MISSING_ON_BASE",
                f"field {merged_type.name}.{merged_field.name} is @external in every "
                f"subgraph that defines it ({names(defined_in)}): no subgraph "
                "resolves it",
                *defined_in,
            )
