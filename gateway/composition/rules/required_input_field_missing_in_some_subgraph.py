"""REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH: an input field required in one
subgraph is defined by every subgraph that defines its input type (input types
merge to the intersection of their fields, which would drop it)."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import input_field_groups
from gateway.composition.syntax import is_required, names
from gateway.supergraph import TypeKind

__all__ = ["required_input_field_missing_in_some_subgraph"]


def required_input_field_missing_in_some_subgraph(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.INPUT_OBJECT:
            continue
        defining = merged_type.subgraph_names
        for field_name, group in input_field_groups(merged_type).items():
            required_in = [s.name for s, node in group if is_required(node)]
            having = {s.name for s, _ in group}
            missing = [name for name in defining if name not in having]
            if not required_in or not missing:
                continue
            context.issues.error(
                "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                f"input field {merged_type.name}.{field_name} is required in "
                f"{names(required_in)} but missing in {names(missing)}",
                *defining,
            )
