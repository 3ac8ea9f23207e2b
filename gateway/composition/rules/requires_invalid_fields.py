"""REQUIRES_INVALID_FIELDS: ``@requires`` selects fields of the parent type that exist.

Arguments are allowed (``price(currency: "USD")``): the gateway sends them.
"""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import field_set_problems, print_field_set

__all__ = ["requires_invalid_fields"]


def requires_invalid_fields(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        if definition.requires is None:
            continue
        subgraph = definition.subgraph
        text = print_field_set(definition.requires)
        for problem in field_set_problems(
            subgraph.schema,
            merged_type.name,
            definition.requires,
            allow_arguments=True,
        ):
            context.issues.error(
                "REQUIRES_INVALID_FIELDS",
                f'@requires(fields: "{text}") on '
                f"{merged_type.name}.{merged_field.name}: {problem}",
                subgraph.name,
            )
