"""ARGUMENT_DEFAULT_MISMATCH: an argument has one default value across subgraphs."""

from __future__ import annotations

from graphql import print_ast

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import argument_groups, default_conflict

__all__ = ["argument_default_mismatch"]


def argument_default_mismatch(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        for merged_field in merged_type.fields.values():
            for argument, group in argument_groups(merged_field).items():
                conflict = default_conflict(group)
                if conflict is None:
                    continue
                (first, first_value), (second, second_value) = conflict
                context.issues.error(
                    "ARGUMENT_DEFAULT_MISMATCH",
                    f"argument {merged_type.name}.{merged_field.name}({argument}:) "
                    f"has default {print_ast(first_value)} in {first!r} but "
                    f"{print_ast(second_value)} in {second!r}",
                    first,
                    second,
                )
