"""AST helpers composition shares: directive arguments, type references, field sets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    DirectiveNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    InputValueDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    SelectionSetNode,
    TypeNode,
    get_named_type,
    is_leaf_type,
    print_ast,
    value_from_ast_untyped,
)
from graphql.language import TokenKind
from graphql.language.parser import Parser

__all__ = [
    "arguments",
    "field_set_problems",
    "is_required",
    "kept_directives",
    "merge_type_nodes",
    "named_type_node",
    "names",
    "parse_field_set",
    "print_field_set",
    "top_level_fields",
    "type_shape",
    "where",
]


def where(error: GraphQLError) -> str:
    if error.locations:
        location = error.locations[0]
        return f"line {location.line}, column {location.column}: "
    return ""


def parse_field_set(text: str) -> SelectionSetNode:
    """A FieldSet string (``"id org { id }"``) as a selection set."""
    parser = Parser("{" + text + "}", no_location=True)
    parser.expect_token(TokenKind.SOF)
    selection = parser.parse_selection_set()
    parser.expect_token(TokenKind.EOF)
    return selection


def print_field_set(selection: SelectionSetNode) -> str:
    return " ".join(print_ast(selection).strip()[1:-1].split())


def top_level_fields(selection: SelectionSetNode) -> list[str]:
    return [s.name.value for s in selection.selections if isinstance(s, FieldNode)]


def arguments(directive: DirectiveNode) -> dict[str, Any]:
    return {
        argument.name.value: value_from_ast_untyped(argument.value)
        for argument in directive.arguments or ()
    }


def kept_directives(nodes: Iterable[Node | None]) -> tuple[DirectiveNode, ...]:
    """The first ``@deprecated`` / ``@specifiedBy`` among the definitions."""
    kept: dict[str, DirectiveNode] = {}
    for node in nodes:
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in ("deprecated", "specifiedBy"):
                kept.setdefault(directive.name.value, directive)
    return tuple(kept.values())


def named_type_node(type_node: TypeNode) -> NamedTypeNode:
    while isinstance(type_node, NonNullTypeNode | ListTypeNode):
        type_node = type_node.type
    assert isinstance(type_node, NamedTypeNode)
    return type_node


def type_shape(type_node: TypeNode) -> str:
    """The type with nullability removed: ``[Int!]!`` -> ``[Int]``."""
    return print_ast(type_node).replace("!", "")


def merge_type_nodes(a: TypeNode, b: TypeNode, *, output: bool) -> TypeNode | None:
    """Two compatible types merged: the most permissive (nullable) one for output
    positions, the most restrictive one for inputs; ``None`` if incompatible."""
    if isinstance(a, NonNullTypeNode) and isinstance(b, NonNullTypeNode):
        inner = merge_type_nodes(a.type, b.type, output=output)
        return None if inner is None else NonNullTypeNode(type=inner)
    if isinstance(a, NonNullTypeNode) or isinstance(b, NonNullTypeNode):
        non_null, other = (a, b) if isinstance(a, NonNullTypeNode) else (b, a)
        assert isinstance(non_null, NonNullTypeNode)
        inner = merge_type_nodes(non_null.type, other, output=output)
        if inner is None or output:
            return inner
        return NonNullTypeNode(type=inner)
    if isinstance(a, ListTypeNode) and isinstance(b, ListTypeNode):
        inner = merge_type_nodes(a.type, b.type, output=output)
        return None if inner is None else ListTypeNode(type=inner)
    if (
        isinstance(a, NamedTypeNode)
        and isinstance(b, NamedTypeNode)
        and a.name.value == b.name.value
    ):
        return a
    return None


def is_required(node: InputValueDefinitionNode) -> bool:
    return isinstance(node.type, NonNullTypeNode) and node.default_value is None


def names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def field_set_problems(
    schema: GraphQLSchema,
    type_name: str,
    selection: SelectionSetNode,
    *,
    allow_arguments: bool = False,
) -> list[str]:
    """What is wrong with a FieldSet on ``type_name`` in a subgraph's schema.

    Arguments are allowed only where ``allow_arguments`` says (``@requires``), and
    then must be arguments the field declares.
    """
    problems: list[str] = []
    parent = schema.get_type(type_name)
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            target = condition.name.value if condition else type_name
            if schema.get_type(target) is None:
                problems.append(f"unknown type {target}")
            else:
                problems += field_set_problems(
                    schema, target, node.selection_set, allow_arguments=allow_arguments
                )
            continue
        if not isinstance(node, FieldNode):
            problems.append("fragment spreads are not allowed")
            continue
        field_name = node.name.value
        if field_name == "__typename":
            continue
        fields = getattr(parent, "fields", {})
        if field_name not in fields:
            problems.append(f"field {type_name}.{field_name} does not exist")
            continue
        if node.arguments and not allow_arguments:
            problems.append(f"field {type_name}.{field_name} may not take arguments")
        for argument in node.arguments or ():
            if allow_arguments and argument.name.value not in fields[field_name].args:
                problems.append(
                    f"field {type_name}.{field_name} has no argument "
                    f"{argument.name.value!r}"
                )
        named = get_named_type(fields[field_name].type)
        if node.selection_set is None:
            if not is_leaf_type(named):
                problems.append(
                    f"field {type_name}.{field_name} of type {named.name} needs a "
                    "selection of sub-fields"
                )
        elif is_leaf_type(named):
            problems.append(
                f"field {type_name}.{field_name} of type {named.name} has no sub-fields"
            )
        else:
            problems += field_set_problems(
                schema,
                named.name,
                node.selection_set,
                allow_arguments=allow_arguments,
            )
    return problems
