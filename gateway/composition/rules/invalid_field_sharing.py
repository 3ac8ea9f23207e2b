"""INVALID_FIELD_SHARING: a field several subgraphs resolve is ``@shareable`` in each.

Key fields (nested ones included) are shareable; a Federation 2 ``@external`` key
field does not resolve the field, so it never counts.
"""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import names
from gateway.supergraph import TypeKind

__all__ = ["invalid_field_sharing"]


def invalid_field_sharing(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.OBJECT:
            continue
        for merged_field in merged_type.fields.values():
            resolving = {source.subgraph for source in merged_field.sources}
            if len(resolving) < 2:
                continue
            not_shareable = [
                d.subgraph.name
                for d in merged_field.definitions
                if d.subgraph.name in resolving and not d.shareable
            ]
            if not_shareable:
                context.issues.error(
                    "INVALID_FIELD_SHARING",
                    f"non-shareable field {merged_type.name}.{merged_field.name} is "
                    f"resolved by several subgraphs ({names(sorted(resolving))}) and "
                    f"is not @shareable in {names(not_shareable)}",
                    *sorted(resolving),
                )
