"""Steps 1 and 2: a subgraph's SDL parsed and normalised into its own schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    FieldDefinitionNode,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    NamedTypeNode,
    NameNode,
    Node,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    Visitor,
    build_ast_schema,
    get_named_type,
    parse,
    validate_schema,
    visit,
)
from graphql.language import ObjectTypeExtensionNode
from graphql.validation.validate import validate_sdl

from gateway.composition.issues import Issues
from gateway.composition.spec import (
    DEFINITION_OF_EXTENSION,
    FEDERATION_DIRECTIVES,
    FEDERATION_ROOT_FIELDS,
    FEDERATION_SPEC,
    FEDERATION_SUPPORT_TYPES,
    FEDERATION_TYPES,
    LINK_DIRECTIVE,
    ROOT_OPERATIONS,
)
from gateway.composition.syntax import arguments, named_type_node, where

__all__ = ["Link", "Subgraph", "field_nodes", "normalise", "parse_subgraph"]


def parse_subgraph(name: str, sdl: str, issues: Issues) -> DocumentNode | None:
    try:
        return parse(sdl)
    except GraphQLSyntaxError as exc:
        issues.error("INVALID_GRAPHQL", f"{where(exc)}{exc.message}", name)
        return None


@dataclass(slots=True)
class Subgraph:
    """One subgraph after normalisation."""

    name: str
    sdl: str
    fed2: bool
    schema: GraphQLSchema
    root_type_names: dict[str, str]
    directive_names: dict[str, str]
    """Local directive name -> canonical federation directive name."""
    user_types: list[str]
    """Types the subgraph itself defines or extends, in document order."""
    federation_types: frozenset[str]
    """Federation machinery types present in its schema (never merged)."""
    extension_types: frozenset[str] = frozenset()
    """Types the subgraph only extends (``extend type`` without a definition, or
    ``@extends``): their ``@external`` key fields are resolvable there."""

    def directives(self, node: Node | None) -> Iterator[tuple[str, DirectiveNode]]:
        """The federation directives on an AST node, by canonical name."""
        for directive in getattr(node, "directives", None) or ():
            canonical = self.directive_names.get(directive.name.value)
            if canonical is not None:
                yield canonical, directive

    def has(self, node: Node | None, canonical: str) -> bool:
        return any(name == canonical for name, _ in self.directives(node))

    def is_external(self, type_name: str, field_name: str) -> bool:
        """``@external`` on the field, or on the type definition declaring it."""
        named = self.schema.get_type(type_name)
        if named is None:
            return False
        for type_node, field_node in field_nodes(named):
            if field_node.name.value == field_name:
                return self.has(field_node, "external") or self.has(
                    type_node, "external"
                )
        return False


def field_nodes(named: GraphQLNamedType) -> Iterator[tuple[Node, FieldDefinitionNode]]:
    """(declaring type node, field node) for each field, definition then extensions."""
    for node in (named.ast_node, *named.extension_ast_nodes):
        if node is None:
            continue
        for field_node in getattr(node, "fields", None) or ():
            if isinstance(field_node, FieldDefinitionNode):
                yield node, field_node


@dataclass(frozen=True, slots=True)
class Link:
    """What a subgraph's ``@link`` to the federation spec says."""

    fed2: bool
    prefix: str = "federation"
    imports: tuple[tuple[str, str], ...] = ()
    """(local name, canonical name), ``@`` included for directives."""


def read_link(document: DocumentNode) -> Link:
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = arguments(directive)
            url = args.get("url")
            if not isinstance(url, str) or not url.startswith(FEDERATION_SPEC):
                continue
            prefix = args.get("as") or "federation"
            imports: list[tuple[str, str]] = []
            for item in args.get("import") or ():
                if isinstance(item, str):
                    imports.append((item, item))
                elif isinstance(item, dict) and isinstance(item.get("name"), str):
                    imports.append((str(item.get("as") or item["name"]), item["name"]))
            return Link(fed2=True, prefix=str(prefix), imports=tuple(imports))
    return Link(fed2=False)


def directive_names_of(link: Link) -> dict[str, str]:
    """Local directive names that mean a federation directive in this subgraph.

    Fed 2: imported names (renames honoured) and ``<prefix>__name``; bare names
    too, unless the import renamed them (printed subgraph SDL often carries the
    definitions without importing them). Fed 1: bare names.
    """
    names: dict[str, str] = {"link": "link"}
    renamed: set[str] = set()
    for local, canonical in link.imports:
        if canonical.startswith("@") and canonical[1:] in FEDERATION_DIRECTIVES:
            names[local.lstrip("@")] = canonical[1:]
            if local != canonical:
                renamed.add(canonical[1:])
    for directive in FEDERATION_DIRECTIVES:
        if link.fed2:
            names[f"{link.prefix}__{directive}"] = directive
        if directive not in renamed:
            names.setdefault(directive, directive)
    return names


def normalise(
    name: str, sdl: str, document: DocumentNode, issues: Issues
) -> Subgraph | None:
    link = read_link(document)
    directive_names = directive_names_of(link)
    document, root_type_names = _rename_root_types(name, document, issues)
    extension_types = _extended_only(document)
    document = _extensions_to_definitions(document)
    user_types = _defined_type_names(document)
    document, federation_types = _add_federation_definitions(
        document, link, directive_names
    )
    errors = validate_sdl(document)
    if errors:
        for error in errors:
            issues.error("INVALID_GRAPHQL", f"{where(error)}{error.message}", name)
        return None
    schema = build_ast_schema(document, assume_valid_sdl=True)
    for error in validate_schema(schema):
        issues.error("INVALID_GRAPHQL", f"{where(error)}{error.message}", name)
    if issues.errors:
        return None
    federation_types |= {
        type_name
        for type_name in user_types
        if type_name in FEDERATION_TYPES
        or type_name.startswith(("link__", f"{link.prefix}__"))
    }
    federation_types |= _directive_argument_types(document, directive_names)
    federation_types -= _referenced_type_names(schema, user_types, federation_types)
    return Subgraph(
        name=name,
        sdl=sdl,
        fed2=link.fed2,
        schema=schema,
        root_type_names=root_type_names,
        directive_names=directive_names,
        user_types=[t for t in user_types if t not in federation_types],
        federation_types=frozenset(federation_types),
        extension_types=frozenset(
            extension_types | _marked_extends(schema, user_types, directive_names)
        ),
    )


def _extended_only(document: DocumentNode) -> set[str]:
    """Types the document extends without defining them."""
    defined = {
        d.name.value for d in document.definitions if isinstance(d, TypeDefinitionNode)
    }
    return {
        d.name.value
        for d in document.definitions
        if isinstance(d, TypeExtensionNode) and d.name.value not in defined
    }


def _marked_extends(
    schema: GraphQLSchema, user_types: Iterable[str], directive_names: dict[str, str]
) -> set[str]:
    """Types carrying the Federation 1 ``@extends`` directive."""
    marked: set[str] = set()
    for type_name in user_types:
        node = schema.type_map[type_name].ast_node
        for directive in getattr(node, "directives", None) or ():
            if directive_names.get(directive.name.value) == "extends":
                marked.add(type_name)
    return marked


def _rename_root_types(
    name: str, document: DocumentNode, issues: Issues
) -> tuple[DocumentNode, dict[str, str]]:
    """Name the root types ``Query``/``Mutation``/``Subscription``."""
    renames: dict[str, str] = {}
    root_type_names: dict[str, str] = {}
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            for operation_type in definition.operation_types or ():
                operation = operation_type.operation.value
                original = operation_type.type.name.value
                canonical = ROOT_OPERATIONS[operation]
                if original != canonical:
                    renames[original] = canonical
                    root_type_names[operation] = original
    if not renames:
        return document, root_type_names
    defined = _defined_type_names(document)
    for original, canonical in renames.items():
        if canonical in defined and canonical not in renames:
            issues.error(
                f"ROOT_{canonical.upper()}_USED",
                f"type {canonical} is not the {canonical.lower()} root type but "
                f"{original} is: a subgraph may not use the name {canonical} for "
                f"another type",
                name,
            )
    return cast(DocumentNode, visit(document, _RenameTypes(renames))), root_type_names


class _RenameTypes(Visitor):
    """Renames named types (references and definitions)."""

    def __init__(self, renames: dict[str, str]) -> None:
        super().__init__()
        self.renames = renames

    def enter_name(self, node: NameNode, key: Any, parent: Any, *_: Any) -> Any:
        if isinstance(parent, NamedTypeNode | TypeDefinitionNode | TypeExtensionNode):
            new = self.renames.get(node.value)
            if new is not None:
                return NameNode(value=new, loc=node.loc)
        return None


def _defined_type_names(document: DocumentNode) -> list[str]:
    names: dict[str, None] = {}
    for definition in document.definitions:
        if isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            names.setdefault(definition.name.value, None)
    return list(names)


def _extensions_to_definitions(document: DocumentNode) -> DocumentNode:
    """Fed 1 ``extend type T`` where the subgraph has no ``type T``: a definition."""
    defined = {
        d.name.value for d in document.definitions if isinstance(d, TypeDefinitionNode)
    }
    definitions: list[DefinitionNode] = []
    for definition in document.definitions:
        if (
            isinstance(definition, TypeExtensionNode)
            and definition.name.value not in defined
        ):
            defined.add(definition.name.value)
            definition_class = DEFINITION_OF_EXTENSION[type(definition)]
            values = {key: getattr(definition, key) for key in definition.keys}
            values.setdefault("description", None)
            definition = cast(DefinitionNode, definition_class(**values))
        definitions.append(definition)
    return DocumentNode(definitions=tuple(definitions), loc=document.loc)


def _add_federation_definitions(
    document: DocumentNode, link: Link, directive_names: dict[str, str]
) -> tuple[DocumentNode, set[str]]:
    """Add what the subgraph uses but does not define: directive definitions, the
    scalars they need, ``_Any``, ``_Service``/``_service``, ``_Entity``/``_entities``.

    Returns the completed document and the names of the types added.
    """
    defined_types = set(_defined_type_names(document))
    defined_directives = {
        d.name.value
        for d in document.definitions
        if isinstance(d, DirectiveDefinitionNode)
    }
    used = _useddirective_names_of(document)
    field_set = _field_set_scalar(defined_types, link)
    added: list[str] = []
    for local in sorted(used - defined_directives):
        canonical = directive_names.get(local)
        if canonical == "link":
            added.append(LINK_DIRECTIVE)
        elif canonical is not None:
            signature = FEDERATION_DIRECTIVES[canonical].replace("{fs}", field_set)
            added.append(f"directive @{local}{signature}")
    needed = {field_set, "_Any", "_Service"}
    for text in added:
        needed |= {n for n in FEDERATION_SUPPORT_TYPES if n in text}
    new_types: set[str] = set()
    for type_name in sorted(needed - defined_types):
        added.append(FEDERATION_SUPPORT_TYPES.get(type_name, f"scalar {type_name}"))
        new_types.add(type_name)

    query_fields = _object_field_names(document, "Query")
    if "_Entity" not in defined_types:
        entities = _entity_type_names(document, directive_names)
        if entities:
            added.append("union _Entity = " + " | ".join(entities))
            new_types.add("_Entity")
    has_entity_union = "_Entity" in defined_types or "_Entity" in new_types
    root_fields = []
    if "_service" not in query_fields:
        root_fields.append("_service: _Service!")
    if has_entity_union and "_entities" not in query_fields:
        root_fields.append("_entities(representations: [_Any!]!): [_Entity]!")
    if root_fields:
        keyword = "extend type" if "Query" in defined_types else "type"
        added.append(f"{keyword} Query {{ {' '.join(root_fields)} }}")
    if not added:
        return document, new_types
    extra = parse("\n".join(added), no_location=True)
    return (
        DocumentNode(definitions=(*document.definitions, *extra.definitions)),
        new_types,
    )


def _field_set_scalar(defined_types: set[str], link: Link) -> str:
    for candidate in ("FieldSet", f"{link.prefix}__FieldSet", "_FieldSet"):
        if candidate in defined_types:
            return candidate
    if not link.fed2:
        return "_FieldSet"
    if any(canonical == "FieldSet" for _, canonical in link.imports):
        return next(local for local, c in link.imports if c == "FieldSet")
    return f"{link.prefix}__FieldSet"


class _DirectiveUses(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _useddirective_names_of(document: DocumentNode) -> set[str]:
    uses = _DirectiveUses()
    visit(document, uses)
    return uses.names


def _object_field_names(document: DocumentNode, type_name: str) -> set[str]:
    return {
        field_node.name.value
        for d in document.definitions
        if isinstance(d, ObjectTypeDefinitionNode | ObjectTypeExtensionNode)
        and d.name.value == type_name
        for field_node in d.fields or ()
    }


def _entity_type_names(
    document: DocumentNode, directive_names: dict[str, str]
) -> list[str]:
    """Object types with a resolvable ``@key``: the members of ``_Entity``."""
    names: dict[str, None] = {}
    for d in document.definitions:
        if not isinstance(d, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
            continue
        for directive in d.directives or ():
            if directive_names.get(directive.name.value) == "key":
                if arguments(directive).get("resolvable", True) is not False:
                    names.setdefault(d.name.value, None)
    return list(names)


def _directive_argument_types(
    document: DocumentNode, directive_names: dict[str, str]
) -> set[str]:
    """Types named by the arguments of federation directive definitions."""
    names: set[str] = set()
    for d in document.definitions:
        if isinstance(d, DirectiveDefinitionNode) and (d.name.value in directive_names):
            for argument in d.arguments or ():
                names.add(named_type_node(argument.type).name.value)
    return names


def _referenced_type_names(
    schema: GraphQLSchema, user_types: Iterable[str], federation: set[str]
) -> set[str]:
    """Types referenced by the user's own (non-federation) types."""
    referenced: set[str] = set()
    for type_name in user_types:
        if type_name in federation:
            continue
        named = schema.type_map[type_name]
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field_ in named.fields.items():
                if type_name == "Query" and field_name in FEDERATION_ROOT_FIELDS:
                    continue
                referenced.add(get_named_type(field_.type).name)
                for argument in field_.args.values():
                    referenced.add(get_named_type(argument.type).name)
            referenced |= {i.name for i in named.interfaces}
        elif isinstance(named, GraphQLUnionType):
            referenced |= {member.name for member in named.types}
        elif isinstance(named, GraphQLInputObjectType):
            for input_field in named.fields.values():
                referenced.add(get_named_type(input_field.type).name)
    return referenced
