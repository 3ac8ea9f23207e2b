"""ARGUMENT_TYPE_MISMATCH: an argument has the same type, up to nullability, in
every subgraph that resolves its field."""

from __future__ import annotations

from graphql import print_ast

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import argument_groups, merged_input_type

__all__ = ["argument_type_mismatch"]


def argument_type_mismatch(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        for merged_field in merged_type.fields.values():
            for argument, group in argument_groups(merged_field).items():
                if merged_input_type(group) is not None:
                    continue
                described = ", ".join(
                    f"{print_ast(node.type)} in {s.name!r}" for s, node in group
                )
                context.issues.error(
                    "ARGUMENT_TYPE_MISMATCH",
                    f"argument {merged_type.name}.{merged_field.name}({argument}:) "
                    f"has incompatible types: {described}",
                    *(s.name for s, _ in group),
                )
