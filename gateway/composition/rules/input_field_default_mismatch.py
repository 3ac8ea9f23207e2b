"""INPUT_FIELD_DEFAULT_MISMATCH: an input field has one default value across
subgraphs."""

from __future__ import annotations

from graphql import print_ast

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import default_conflict, input_field_groups
from gateway.supergraph import TypeKind

__all__ = ["input_field_default_mismatch"]


def input_field_default_mismatch(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.INPUT_OBJECT:
            continue
        for field_name, group in input_field_groups(merged_type).items():
            conflict = default_conflict(group)
            if conflict is None:
                continue
            (first, first_value), (second, second_value) = conflict
            context.issues.error(
                "INPUT_FIELD_DEFAULT_MISMATCH",
                f"input field {merged_type.name}.{field_name} has default "
                f"{print_ast(first_value)} in {first!r} but "
                f"{print_ast(second_value)} in {second!r}",
                first,
                second,
            )
