"""Input values across subgraphs: arguments of a field and fields of an input type,
grouped by name, and merged when they agree.

Merging takes the intersection (a value every subgraph defines) with the most
restrictive type and the one default value; the rules in ``rules/`` report what
does not agree.

See https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/composition
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import (
    GraphQLInputObjectType,
    InputValueDefinitionNode,
    TypeNode,
    ValueNode,
    print_ast,
)

from gateway.composition.merged import FieldInSubgraph, MergedField, MergedType
from gateway.composition.normalise import Subgraph
from gateway.composition.syntax import kept_directives, merge_type_nodes

__all__ = [
    "Definitions",
    "argument_groups",
    "default_conflict",
    "input_field_groups",
    "merge_input_values",
    "merged_input_type",
    "resolving_definitions",
]

Definitions = Sequence[tuple[Subgraph, InputValueDefinitionNode]]
"""One input value (an argument or an input field) as each subgraph defines it."""


def resolving_definitions(merged_field: MergedField) -> list[FieldInSubgraph]:
    """The definitions whose arguments are merged: those of the subgraphs that
    resolve the field (all of them when it is external everywhere)."""
    return [d for d in merged_field.definitions if not d.external] or list(
        merged_field.definitions
    )


def argument_groups(
    merged_field: MergedField,
) -> dict[str, list[tuple[Subgraph, InputValueDefinitionNode]]]:
    """Argument name -> its definitions in the resolving subgraphs."""
    groups: dict[str, list[tuple[Subgraph, InputValueDefinitionNode]]] = {}
    for definition in resolving_definitions(merged_field):
        for argument in definition.node.arguments or ():
            groups.setdefault(argument.name.value, []).append(
                (definition.subgraph, argument)
            )
    return groups


def input_field_groups(
    merged_type: MergedType,
) -> dict[str, list[tuple[Subgraph, InputValueDefinitionNode]]]:
    """Input field name -> its definitions, for an input object type."""
    groups: dict[str, list[tuple[Subgraph, InputValueDefinitionNode]]] = {}
    for occurrence in merged_type.occurrences:
        assert isinstance(occurrence.type, GraphQLInputObjectType)
        for input_field in occurrence.type.fields.values():
            if input_field.ast_node is not None:
                groups.setdefault(input_field.ast_node.name.value, []).append(
                    (occurrence.subgraph, input_field.ast_node)
                )
    return groups


def merged_input_type(definitions: Definitions) -> TypeNode | None:
    """The most restrictive of the types, ``None`` when they are incompatible."""
    merged: TypeNode | None = definitions[0][1].type
    for _, node in definitions[1:]:
        if merged is None:
            return None
        merged = merge_type_nodes(merged, node.type, output=False)
    return merged


def default_conflict(
    definitions: Definitions,
) -> tuple[tuple[str, ValueNode], tuple[str, ValueNode]] | None:
    """The first two subgraphs giving different default values, if any."""
    first: tuple[str, ValueNode] | None = None
    for subgraph, node in definitions:
        if node.default_value is None:
            continue
        if first is None:
            first = (subgraph.name, node.default_value)
        elif print_ast(first[1]) != print_ast(node.default_value):
            return first, (subgraph.name, node.default_value)
    return None


def merge_input_values(definitions: Definitions) -> InputValueDefinitionNode | None:
    """One input value: the most restrictive type, the one default value. ``None``
    when the types conflict (a rule reports it) or it is ``@inaccessible``."""
    merged_type = merged_input_type(definitions)
    if merged_type is None:
        return None
    if any(subgraph.has(node, "inaccessible") for subgraph, node in definitions):
        return None
    first = definitions[0][1]
    default = next(
        (n.default_value for _, n in definitions if n.default_value is not None), None
    )
    return InputValueDefinitionNode(
        description=next(
            (n.description for _, n in definitions if n.description), None
        ),
        name=first.name,
        type=merged_type,
        default_value=default,
        directives=kept_directives(node for _, node in definitions),
    )
