"""KEY_INVALID_FIELDS: a ``@key`` selects fields its type has, leaves without arguments."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import field_set_problems

__all__ = ["key_invalid_fields"]


def key_invalid_fields(context: CompositionContext) -> None:
    for merged_type in context.merged.values():
        for occurrence in merged_type.occurrences:
            subgraph = occurrence.subgraph
            for key in occurrence.keys:
                for problem in field_set_problems(
                    subgraph.schema, merged_type.name, key.selection
                ):
                    context.issues.error(
                        "KEY_INVALID_FIELDS",
                        f'@key(fields: "{key.fields}") on {merged_type.name}: '
                        f"{problem}",
                        subgraph.name,
                    )
