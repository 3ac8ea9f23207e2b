"""REQUIRES_FIELDS_MISSING_EXTERNAL: in Federation 2 the leaves a ``@requires`` selects
are ``@external`` in the requiring subgraph (the fields leading to them need not be:
``author { yearsOfExperience }`` with only ``yearsOfExperience`` external).
Federation 1 subgraphs are not checked, as Apollo's composition does not check them.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)

from gateway.composition.context import CompositionContext
from gateway.composition.normalise import Subgraph
from gateway.composition.syntax import field_set_problems, names, print_field_set

__all__ = ["requires_fields_missing_external"]


def requires_fields_missing_external(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        subgraph = definition.subgraph
        if definition.requires is None or not subgraph.fed2:
            continue
        if field_set_problems(
            subgraph.schema, merged_type.name, definition.requires, allow_arguments=True
        ):
            continue  # REQUIRES_INVALID_FIELDS reports it
        not_external = _internal_leaves(
            subgraph, subgraph.schema, merged_type.name, definition.requires
        )
        if not_external:
            text = print_field_set(definition.requires)
            context.issues.error(
                "REQUIRES_FIELDS_MISSING_EXTERNAL",
                f'@requires(fields: "{text}") on {merged_type.name}.'
                f"{merged_field.name} in {subgraph.name!r}: {names(not_external)} "
                f"must be @external in {subgraph.name!r}",
                subgraph.name,
            )


def _internal_leaves(
    subgraph: Subgraph,
    schema: GraphQLSchema,
    type_name: str,
    selection: SelectionSetNode,
) -> list[str]:
    found: list[str] = []
    parent = schema.get_type(type_name)
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            target = condition.name.value if condition else type_name
            found += _internal_leaves(subgraph, schema, target, node.selection_set)
            continue
        if not isinstance(node, FieldNode) or node.name.value == "__typename":
            continue
        field_def = getattr(parent, "fields", {})[node.name.value]
        named = get_named_type(field_def.type)
        if node.selection_set is not None:
            found += _internal_leaves(subgraph, schema, named.name, node.selection_set)
        elif is_leaf_type(named) and not subgraph.is_external(
            type_name, node.name.value
        ):
            found.append(f"{type_name}.{node.name.value}")
    return found
