"""REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH: an argument required in one subgraph
is defined by every subgraph that resolves its field (arguments merge to the
intersection, which would drop it)."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.inputs import argument_groups, resolving_definitions
from gateway.composition.syntax import is_required, names

__all__ = ["required_argument_missing_in_some_subgraph"]


def required_argument_missing_in_some_subgraph(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        for merged_field in merged_type.fields.values():
            resolving = [d.subgraph.name for d in resolving_definitions(merged_field)]
            for argument, group in argument_groups(merged_field).items():
                required_in = [s.name for s, node in group if is_required(node)]
                having = {s.name for s, _ in group}
                missing = [name for name in resolving if name not in having]
                if not required_in or not missing:
                    continue
                context.issues.error(
                    "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                    f"argument {merged_type.name}.{merged_field.name}({argument}:) is "
                    f"required in {names(required_in)} but missing in {names(missing)}",
                    *resolving,
                )
