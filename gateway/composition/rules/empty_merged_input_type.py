"""EMPTY_MERGED_INPUT_TYPE: an input type keeps at least one field, one every
subgraph that defines it has."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import input_field_groups
from gateway.composition.syntax import names
from gateway.supergraph import TypeKind

__all__ = ["empty_merged_input_type"]


def empty_merged_input_type(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.INPUT_OBJECT:
            continue
        everywhere = len(merged_type.occurrences)
        groups = input_field_groups(merged_type).values()
        if any(len(group) == everywhere for group in groups):
            continue
        context.issues.error(
            "EMPTY_MERGED_INPUT_TYPE",
            f"input type {merged_type.name} has no field common to all the "
            f"subgraphs that define it ({names(merged_type.subgraph_names)})",
            *merged_type.subgraph_names,
        )
