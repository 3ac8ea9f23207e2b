"""PROVIDES_INVALID_FIELDS / PROVIDES_ON_NON_OBJECT_FIELD: ``@provides`` sits on a
field returning an object, interface or union, and selects fields that type has
(through inline fragments for abstract types: ``... on Book { title }``)."""

from __future__ import annotations

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    print_ast,
)

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import (
    field_set_problems,
    named_type_node,
    print_field_set,
)

__all__ = ["provides_invalid_fields"]


def provides_invalid_fields(context: CompositionContext) -> None:
    for merged_type, merged_field, definition in context.definitions():
        if definition.provides is None:
            continue
        subgraph = definition.subgraph
        coordinate = f"{merged_type.name}.{merged_field.name}"
        text = print_field_set(definition.provides)
        returned = subgraph.schema.get_type(
            named_type_node(definition.node.type).name.value
        )
        if not isinstance(
            returned, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
        ):
            context.issues.error(
                "PROVIDES_ON_NON_OBJECT_FIELD",
                f'@provides(fields: "{text}") on {coordinate}: its type '
                f"{print_ast(definition.node.type)} is not an object, interface or "
                "union type",
                subgraph.name,
            )
            continue
        for problem in field_set_problems(
            subgraph.schema, returned.name, definition.provides
        ):
            context.issues.error(
                "PROVIDES_INVALID_FIELDS",
                f'@provides(fields: "{text}") on {coordinate}: {problem}',
                subgraph.name,
            )
