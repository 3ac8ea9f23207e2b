"""FIELD_TYPE_MISMATCH: the types a field has in its subgraphs have a common
supertype among them (output fields: up to nullability and abstract types; input
fields: the same type up to nullability)."""

from __future__ import annotations

from graphql import print_ast

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import input_field_groups, merged_input_type
from gateway.supergraph import TypeKind

__all__ = ["field_type_mismatch"]


def field_type_mismatch(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        for merged_field in merged_type.fields.values():
            if merged_field.type is not None:
                continue
            definitions = merged_field.definitions
            described = ", ".join(
                f"{print_ast(d.node.type)} in {d.subgraph.name!r}" for d in definitions
            )
            context.issues.error(
                "FIELD_TYPE_MISMATCH",
                f"field {merged_type.name}.{merged_field.name} has incompatible "
                f"types: {described}",
                *(d.subgraph.name for d in definitions),
            )
        if merged_type.kind is not TypeKind.INPUT_OBJECT:
            continue
        for field_name, group in input_field_groups(merged_type).items():
            if merged_input_type(group) is None:
                described = ", ".join(
                    f"{print_ast(node.type)} in {s.name!r}" for s, node in group
                )
                context.issues.error(
                    "FIELD_TYPE_MISMATCH",
                    f"input field {merged_type.name}.{field_name} has incompatible "
                    f"types: {described}",
                    *(s.name for s, _ in group),
                )
