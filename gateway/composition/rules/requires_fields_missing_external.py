"""REQUIRES_FIELDS_MISSING_EXTERNAL: in Federation 2 the top-level leaf fields a
``@requires`` selects are ``@external`` in the requiring subgraph.

Fields with a selection (``author { yearsOfExperience }``) and what sits below them
are not checked: the parent may be a field the subgraph resolves itself, and the
leaves under an ``@external`` parent are external with it. Federation 1 subgraphs are
not checked. This is the rule Apollo's and The Guild's compositions apply.
"""

from __future__ import annotations

from graphql import FieldNode

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import field_set_problems, names, print_field_set

__all__ = ["requires_fields_missing_external"]


def requires_fields_missing_external(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        subgraph = definition.subgraph
        requires = definition.requires
        if requires is None or not subgraph.fed2:
            continue
        if field_set_problems(
            subgraph.schema, merged_type.name, requires, allow_arguments=True
        ):
            continue  # REQUIRES_INVALID_FIELDS reports it
        not_external = [
            f"{merged_type.name}.{node.name.value}"
            for node in requires.selections
            if isinstance(node, FieldNode)
            and node.selection_set is None
            and node.name.value != "__typename"
            and not subgraph.is_external(merged_type.name, node.name.value)
        ]
        if not_external:
            context.issues.error(
                "REQUIRES_FIELDS_MISSING_EXTERNAL",
                f'@requires(fields: "{print_field_set(requires)}") on '
                f"{merged_type.name}.{merged_field.name} in {subgraph.name!r}: "
                f"{names(not_external)} must be @external in {subgraph.name!r}",
                subgraph.name,
            )
