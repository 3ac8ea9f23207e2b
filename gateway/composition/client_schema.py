"""Step 5: the client (API) schema, without federation machinery or ``@inaccessible``."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    NamedTypeNode,
    NameNode,
    Node,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from gateway.composition.issues import Issues
from gateway.composition.merged import MergedType
from gateway.composition.normalise import Subgraph
from gateway.composition.spec import EXECUTABLE_LOCATIONS, SPECIFIED_DIRECTIVES
from gateway.composition.syntax import kept_directives
from gateway.supergraph import TypeKind

__all__ = ["build_client_schema"]


def build_client_schema(
    merged: dict[str, MergedType], subgraphs: Sequence[Subgraph], issues: Issues
) -> GraphQLSchema | None:
    """The API schema: merged types without federation machinery or
    ``@inaccessible`` elements, descriptions and ``@deprecated`` kept."""
    hidden = {name for name, t in merged.items() if t.inaccessible}
    definitions: list[Node] = [*_executable_directives(subgraphs)]
    for merged_type in merged.values():
        if merged_type.inaccessible:
            continue
        node = _client_type_node(merged_type, hidden)
        if node is not None:
            definitions.append(node)
    document = DocumentNode(definitions=tuple(definitions))
    errors = validate_sdl(document)
    if not errors:
        schema = build_ast_schema(document, assume_valid_sdl=True)
        errors = validate_schema(schema)
        if not errors:
            return schema
    for error in errors:
        issues.error("INVALID_SUPERGRAPH", error.message)
    return None


def _client_type_node(merged_type: MergedType, hidden: set[str]) -> Node | None:
    name = NameNode(value=merged_type.name)
    description = merged_type.description
    if merged_type.kind in (TypeKind.OBJECT, TypeKind.INTERFACE):
        fields = [
            FieldDefinitionNode(
                description=next(
                    (d.node.description for d in f.definitions if d.node.description),
                    None,
                ),
                name=NameNode(value=f.name),
                arguments=tuple(f.arguments),
                type=f.type,
                directives=kept_directives(d.node for d in f.definitions),
            )
            for f in merged_type.fields.values()
            if not f.inaccessible and f.type is not None
        ]
        node_class = (
            ObjectTypeDefinitionNode
            if merged_type.kind is TypeKind.OBJECT
            else InterfaceTypeDefinitionNode
        )
        return node_class(
            description=description,
            name=name,
            interfaces=tuple(
                NamedTypeNode(name=NameNode(value=i))
                for i in merged_type.interfaces
                if i not in hidden
            ),
            directives=(),
            fields=tuple(fields),
        )
    if merged_type.kind is TypeKind.UNION:
        return UnionTypeDefinitionNode(
            description=description,
            name=name,
            directives=(),
            types=tuple(
                NamedTypeNode(name=NameNode(value=m))
                for m in merged_type.members
                if m not in hidden
            ),
        )
    if merged_type.kind is TypeKind.ENUM:
        values = [
            EnumValueDefinitionNode(
                description=node.description,
                name=node.name,
                directives=kept_directives([node]),
            )
            for value_name, node in merged_type.values.items()
            if value_name not in merged_type.inaccessible_values
        ]
        return EnumTypeDefinitionNode(
            description=description, name=name, directives=(), values=tuple(values)
        )
    if merged_type.kind is TypeKind.INPUT_OBJECT:
        return InputObjectTypeDefinitionNode(
            description=description,
            name=name,
            directives=(),
            fields=tuple(merged_type.input_fields),
        )
    return ScalarTypeDefinitionNode(
        description=description,
        name=name,
        directives=kept_directives(o.type.ast_node for o in merged_type.occurrences),
    )


def _executable_directives(subgraphs: Sequence[Subgraph]) -> list[Node]:
    """Executable directives every subgraph defines (client may send them)."""
    common: dict[str, tuple[DirectiveDefinitionNode, set[str]]] = {}
    for index, subgraph in enumerate(subgraphs):
        here: dict[str, DirectiveDefinitionNode] = {}
        for directive in subgraph.schema.directives:
            node = directive.ast_node
            if node is None or directive.name in SPECIFIED_DIRECTIVES:
                continue
            here[directive.name] = node
        if index == 0:
            for directive_name, node in here.items():
                locations = {loc.value for loc in node.locations} & EXECUTABLE_LOCATIONS
                if locations:
                    common[directive_name] = (node, locations)
            continue
        for directive_name in list(common):
            other = here.get(directive_name)
            if other is None:
                del common[directive_name]
                continue
            node, locations = common[directive_name]
            locations &= {loc.value for loc in other.locations}
            if not locations:
                del common[directive_name]
    kept: list[Node] = []
    for node, locations in common.values():
        trimmed = copy.copy(node)
        trimmed.locations = tuple(
            loc for loc in node.locations if loc.value in locations
        )
        kept.append(trimmed)
    return kept
