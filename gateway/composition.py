"""Apollo Federation composition: subgraph SDL in, a ``Supergraph`` out.

``compose`` runs five named steps, each reading the previous one's output:

1. ``_parse``: each subgraph's SDL to a GraphQL document (syntax errors name the line);
2. ``_normalise``: federation version and directive names (``@link`` imports, renames,
   ``federation__`` namespace, Fed 1 bare names), root types renamed to
   ``Query``/``Mutation``/``Subscription``, Fed 1 ``extend type`` of a type the
   subgraph does not define turned into a definition, missing federation definitions
   (directives, ``_Any``, ``FieldSet``, ``_Service``, ``_Entity``, ``_entities``)
   added, and the subgraph's own graphql-core schema built;
3. ``_merge``: every user type of every subgraph grouped by name, per-subgraph facts
   read from directives (keys, ``@external``, ``@shareable``, ``@requires``,
   ``@provides``, ``@override``, ``@inaccessible``, ``@interfaceObject``);
4. ``_validate``: the Federation 2 composition rules (kinds, field types, sharing,
   keys, requires, provides, overrides, input types, arguments, inaccessible
   references, at least one query field);
5. ``_build_client_schema`` and ``_build_model``: the API schema without federation
   machinery, and the ``TypeDef``/``FieldDef`` ownership model the planner reads.

Every problem found becomes a ``CompositionIssue``; ``compose`` raises one
``CompositionError`` carrying all of them.

See https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/reference/directives
and https://www.apollographql.com/docs/graphos/reference/federation/errors
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    Node,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    ValueNode,
    Visitor,
    build_ast_schema,
    get_named_type,
    is_leaf_type,
    parse,
    print_ast,
    validate_schema,
    value_from_ast_untyped,
    visit,
)
from graphql.language import (
    EnumTypeExtensionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeExtensionNode,
    ScalarTypeExtensionNode,
    TokenKind,
    UnionTypeExtensionNode,
)
from graphql.language.parser import Parser
from graphql.validation.validate import validate_sdl

from gateway.errors import CompositionError, CompositionIssue
from gateway.supergraph import (
    FieldDef,
    FieldSource,
    Key,
    SubgraphInfo,
    Supergraph,
    TypeDef,
    TypeKind,
)

__all__ = ["compose", "supergraph_hash"]

logger = logging.getLogger("gateway.composition")

ROOT_OPERATIONS = {
    "query": "Query",
    "mutation": "Mutation",
    "subscription": "Subscription",
}

FEDERATION_SPEC = "https://specs.apollo.dev/federation/"

# Canonical federation directive definitions. ``{name}`` is the subgraph's local name
# for the directive, ``{fs}`` its local name for the FieldSet scalar.
# See https://specs.apollo.dev/federation/v2.9
_ALL_LOCATIONS = (
    "FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR"
    " | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
_AUTH_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
FEDERATION_DIRECTIVES: dict[str, str] = {
    "key": "(fields: {fs}!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE",
    "requires": "(fields: {fs}!) on FIELD_DEFINITION",
    "provides": "(fields: {fs}!) on FIELD_DEFINITION",
    "external": "(reason: String) on OBJECT | FIELD_DEFINITION",
    "extends": " on OBJECT | INTERFACE",
    "shareable": " repeatable on OBJECT | FIELD_DEFINITION",
    "override": "(from: String!, label: String) on FIELD_DEFINITION",
    "inaccessible": f" on {_ALL_LOCATIONS}",
    "tag": f"(name: String!) repeatable on {_ALL_LOCATIONS} | SCHEMA",
    "interfaceObject": " on OBJECT",
    "composeDirective": "(name: String!) repeatable on SCHEMA",
    "authenticated": f" on {_AUTH_LOCATIONS}",
    "requiresScopes": f"(scopes: [[federation__Scope!]!]!) on {_AUTH_LOCATIONS}",
    "policy": f"(policies: [[federation__Policy!]!]!) on {_AUTH_LOCATIONS}",
    "context": "(name: String!) repeatable on INTERFACE | OBJECT | UNION",
    "fromContext": "(field: federation__ContextFieldValue) on ARGUMENT_DEFINITION",
    "cost": "(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION"
    " | INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    "listSize": "(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!],"
    " requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
}
LINK_DIRECTIVE = (
    "directive @link(url: String!, as: String, import: [link__Import],"
    " for: link__Purpose) repeatable on SCHEMA"
)
# Scalars/enums the definitions above refer to, by name.
FEDERATION_SUPPORT_TYPES = {
    "federation__Scope": "scalar federation__Scope",
    "federation__Policy": "scalar federation__Policy",
    "federation__ContextFieldValue": "scalar federation__ContextFieldValue",
    "link__Import": "scalar link__Import",
    "link__Purpose": "enum link__Purpose { SECURITY EXECUTION }",
    "_Any": "scalar _Any",
    "_Service": "type _Service { sdl: String }",
}
FEDERATION_ROOT_FIELDS = frozenset({"_service", "_entities"})
FEDERATION_TYPES = frozenset({"_Any", "_Entity", "_Service"})
SPECIFIED_DIRECTIVES = frozenset({"skip", "include", "deprecated", "specifiedBy"})
EXECUTABLE_LOCATIONS = frozenset(
    {
        "QUERY",
        "MUTATION",
        "SUBSCRIPTION",
        "FIELD",
        "FRAGMENT_DEFINITION",
        "FRAGMENT_SPREAD",
        "INLINE_FRAGMENT",
        "VARIABLE_DEFINITION",
    }
)

_DEFINITION_OF_EXTENSION: dict[type[Node], type[Node]] = {
    ObjectTypeExtensionNode: ObjectTypeDefinitionNode,
    InterfaceTypeExtensionNode: InterfaceTypeDefinitionNode,
    UnionTypeExtensionNode: UnionTypeDefinitionNode,
    EnumTypeExtensionNode: EnumTypeDefinitionNode,
    InputObjectTypeExtensionNode: InputObjectTypeDefinitionNode,
    ScalarTypeExtensionNode: ScalarTypeDefinitionNode,
}


def compose(subgraphs: Sequence[tuple[str, str]]) -> Supergraph:
    """Compose ``(name, sdl)`` pairs, in declaration order, into a ``Supergraph``.

    Raises ``CompositionError`` with every ``CompositionIssue`` found.
    """
    issues = _Issues()
    _check_subgraph_names(subgraphs, issues)
    normalised: list[_Subgraph] = []
    for name, sdl in subgraphs:
        document = _parse(name, sdl, issues)
        if document is not None:
            subgraph = _normalise(name, sdl, document, issues)
            if subgraph is not None:
                normalised.append(subgraph)
    issues.raise_if_any()

    merged = _merge(normalised, issues)
    _validate(merged, normalised, issues)
    issues.raise_if_any()

    schema = _build_client_schema(merged, normalised, issues)
    issues.raise_if_any()
    assert schema is not None
    for hint in issues.hints:
        logger.warning("composition hint: %s", hint)
    return Supergraph(
        schema=schema,
        types=_build_model(merged),
        subgraphs={
            s.name: SubgraphInfo(
                name=s.name,
                sdl=s.sdl,
                schema=s.schema,
                root_type_names=dict(s.root_type_names),
            )
            for s in normalised
        },
        hash=supergraph_hash(subgraphs),
        hints=tuple(issues.hints),
    )


def supergraph_hash(subgraphs: Sequence[tuple[str, str]]) -> str:
    """sha256 over the ``(name, sdl)`` pairs, in order."""
    payload = json.dumps([[name, sdl] for name, sdl in subgraphs], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- Issues --------------------------------------------------------------------------


class _Issues:
    """Collects errors (raised at the end of a step) and hints (logged)."""

    def __init__(self) -> None:
        self.errors: list[CompositionIssue] = []
        self.hints: list[CompositionIssue] = []

    def error(self, code: str, message: str, *subgraphs: str) -> None:
        self.errors.append(CompositionIssue(code, message, tuple(subgraphs)))

    def hint(self, code: str, message: str, *subgraphs: str) -> None:
        self.hints.append(CompositionIssue(code, message, tuple(subgraphs)))

    def raise_if_any(self) -> None:
        if self.errors:
            raise CompositionError(self.errors)


def _check_subgraph_names(
    subgraphs: Sequence[tuple[str, str]], issues: _Issues
) -> None:
    if not subgraphs:
        issues.error("NO_SUBGRAPHS", "there is no subgraph to compose")
    seen: set[str] = set()
    for name, _ in subgraphs:
        if not name:
            issues.error("INVALID_SUBGRAPH_NAME", "a subgraph has an empty name")
        elif name in seen:
            issues.error(
                "INVALID_SUBGRAPH_NAME", f"subgraph name {name!r} is used twice", name
            )
        seen.add(name)


# --- Step 1: parse -------------------------------------------------------------------


def _parse(name: str, sdl: str, issues: _Issues) -> DocumentNode | None:
    try:
        return parse(sdl)
    except GraphQLSyntaxError as exc:
        issues.error("INVALID_GRAPHQL", f"{_where(exc)}{exc.message}", name)
        return None


def _where(error: GraphQLError) -> str:
    if error.locations:
        location = error.locations[0]
        return f"line {location.line}, column {location.column}: "
    return ""


def _parse_field_set(text: str) -> SelectionSetNode:
    """A FieldSet string (``"id org { id }"``) as a selection set."""
    parser = Parser("{" + text + "}", no_location=True)
    parser.expect_token(TokenKind.SOF)
    selection = parser.parse_selection_set()
    parser.expect_token(TokenKind.EOF)
    return selection


# --- Step 2: normalise ---------------------------------------------------------------


@dataclass(slots=True)
class _Subgraph:
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

    def directives(self, node: Node | None) -> Iterator[tuple[str, DirectiveNode]]:
        """The federation directives on an AST node, by canonical name."""
        for directive in getattr(node, "directives", None) or ():
            canonical = self.directive_names.get(directive.name.value)
            if canonical is not None:
                yield canonical, directive

    def has(self, node: Node | None, canonical: str) -> bool:
        return any(name == canonical for name, _ in self.directives(node))


@dataclass(frozen=True, slots=True)
class _Link:
    """What a subgraph's ``@link`` to the federation spec says."""

    fed2: bool
    prefix: str = "federation"
    imports: tuple[tuple[str, str], ...] = ()
    """(local name, canonical name), ``@`` included for directives."""


def _read_link(document: DocumentNode) -> _Link:
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = _arguments(directive)
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
            return _Link(fed2=True, prefix=str(prefix), imports=tuple(imports))
    return _Link(fed2=False)


def _directive_names(link: _Link) -> dict[str, str]:
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


def _normalise(
    name: str, sdl: str, document: DocumentNode, issues: _Issues
) -> _Subgraph | None:
    link = _read_link(document)
    directive_names = _directive_names(link)
    document, root_type_names = _rename_root_types(name, document, issues)
    document = _extensions_to_definitions(document)
    user_types = _defined_type_names(document)
    document, federation_types = _add_federation_definitions(
        document, link, directive_names
    )
    errors = validate_sdl(document)
    if errors:
        for error in errors:
            issues.error("INVALID_GRAPHQL", f"{_where(error)}{error.message}", name)
        return None
    schema = build_ast_schema(document, assume_valid_sdl=True)
    for error in validate_schema(schema):
        issues.error("INVALID_GRAPHQL", f"{_where(error)}{error.message}", name)
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
    return _Subgraph(
        name=name,
        sdl=sdl,
        fed2=link.fed2,
        schema=schema,
        root_type_names=root_type_names,
        directive_names=directive_names,
        user_types=[t for t in user_types if t not in federation_types],
        federation_types=frozenset(federation_types),
    )


def _rename_root_types(
    name: str, document: DocumentNode, issues: _Issues
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
            definition_class = _DEFINITION_OF_EXTENSION[type(definition)]
            values = {key: getattr(definition, key) for key in definition.keys}
            values.setdefault("description", None)
            definition = cast(DefinitionNode, definition_class(**values))
        definitions.append(definition)
    return DocumentNode(definitions=tuple(definitions), loc=document.loc)


def _add_federation_definitions(
    document: DocumentNode, link: _Link, directive_names: dict[str, str]
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
    used = _used_directive_names(document)
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


def _field_set_scalar(defined_types: set[str], link: _Link) -> str:
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


def _used_directive_names(document: DocumentNode) -> set[str]:
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
                if _arguments(directive).get("resolvable", True) is not False:
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
                names.add(_named_type_node(argument.type).name.value)
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


# --- Step 3: merge -------------------------------------------------------------------


@dataclass(slots=True)
class _FieldInSubgraph:
    """One field of one type as one subgraph defines it."""

    subgraph: _Subgraph
    node: FieldDefinitionNode
    external: bool
    shareable: bool
    key_field: bool
    inaccessible: bool
    override_from: str | None = None
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    interface_object: bool = False
    """Defined on an ``@interfaceObject`` type: copied to every implementation."""


@dataclass(slots=True)
class _TypeInSubgraph:
    """One type as one subgraph defines it."""

    subgraph: _Subgraph
    type: GraphQLNamedType
    kind: TypeKind
    interface_object: bool
    inaccessible: bool
    keys: list[Key]
    external_fields: set[str]


@dataclass(slots=True)
class _MergedField:
    name: str
    definitions: list[_FieldInSubgraph] = field(default_factory=list)
    type: TypeNode | None = None
    sources: list[FieldSource] = field(default_factory=list)
    external_in: set[str] = field(default_factory=set)
    arguments: list[InputValueDefinitionNode] = field(default_factory=list)

    @property
    def inaccessible(self) -> bool:
        return any(d.inaccessible for d in self.definitions)


@dataclass(slots=True)
class _MergedType:
    name: str
    kind: TypeKind
    occurrences: list[_TypeInSubgraph] = field(default_factory=list)
    fields: dict[str, _MergedField] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, EnumValueDefinitionNode] = field(default_factory=dict)
    inaccessible_values: set[str] = field(default_factory=set)
    input_fields: list[InputValueDefinitionNode] = field(default_factory=list)
    possible_types: list[str] = field(default_factory=list)

    @property
    def subgraph_names(self) -> list[str]:
        return [o.subgraph.name for o in self.occurrences]

    @property
    def inaccessible(self) -> bool:
        return any(o.inaccessible for o in self.occurrences)

    @property
    def description(self) -> StringValueNode | None:
        for occurrence in self.occurrences:
            node = occurrence.type.ast_node
            if node is not None and node.description is not None:
                return node.description
        return None

    @property
    def interface_object_in(self) -> list[str]:
        return [o.subgraph.name for o in self.occurrences if o.interface_object]


_KIND_OF: list[tuple[type[GraphQLNamedType], TypeKind]] = [
    (GraphQLObjectType, TypeKind.OBJECT),
    (GraphQLInterfaceType, TypeKind.INTERFACE),
    (GraphQLUnionType, TypeKind.UNION),
    (GraphQLEnumType, TypeKind.ENUM),
    (GraphQLInputObjectType, TypeKind.INPUT_OBJECT),
    (GraphQLScalarType, TypeKind.SCALAR),
]


def _kind(named: GraphQLNamedType) -> TypeKind:
    return next(kind for cls, kind in _KIND_OF if isinstance(named, cls))


def _merge(subgraphs: Sequence[_Subgraph], issues: _Issues) -> dict[str, _MergedType]:
    """Group every user type by name and read each subgraph's federation facts."""
    occurrences: dict[str, list[_TypeInSubgraph]] = {}
    for subgraph in subgraphs:
        for type_name in subgraph.user_types:
            occurrence = _read_type(
                subgraph, subgraph.schema.type_map[type_name], issues
            )
            occurrences.setdefault(type_name, []).append(occurrence)

    merged: dict[str, _MergedType] = {}
    for type_name, found in occurrences.items():
        kinds = {TypeKind.INTERFACE if o.interface_object else o.kind for o in found}
        if len(kinds) > 1:
            described = ", ".join(
                f"{o.kind.value.lower()}"
                f"{' (@interfaceObject)' if o.interface_object else ''}"
                f" in {o.subgraph.name!r}"
                for o in found
            )
            issues.error(
                "TYPE_KIND_MISMATCH",
                f"type {type_name} is defined with different kinds: {described}",
                *(o.subgraph.name for o in found),
            )
            continue
        merged[type_name] = _MergedType(type_name, kinds.pop(), found)

    for merged_type in merged.values():
        if merged_type.kind in (TypeKind.OBJECT, TypeKind.INTERFACE):
            _merge_fields(merged_type, issues)
        elif merged_type.kind is TypeKind.UNION:
            _merge_union(merged_type)
        elif merged_type.kind is TypeKind.ENUM:
            _merge_enum(merged_type)
        elif merged_type.kind is TypeKind.INPUT_OBJECT:
            _merge_input(merged_type, issues)
    _copy_interface_object_fields(merged)
    _compute_possible_types(merged)
    return merged


def _read_type(
    subgraph: _Subgraph, named: GraphQLNamedType, issues: _Issues
) -> _TypeInSubgraph:
    nodes = [n for n in (named.ast_node, *named.extension_ast_nodes) if n is not None]
    keys: list[Key] = []
    external_fields: set[str] = set()
    interface_object = inaccessible = False
    for node in nodes:
        for directive_name, directive in subgraph.directives(node):
            if directive_name == "key":
                key = _read_key(subgraph, named.name, directive, issues)
                if key is not None:
                    keys.append(key)
            elif directive_name == "interfaceObject":
                interface_object = True
            elif directive_name == "inaccessible":
                inaccessible = True
            elif directive_name == "external":
                external_fields |= {f.name.value for f in getattr(node, "fields", ())}
    return _TypeInSubgraph(
        subgraph=subgraph,
        type=named,
        kind=_kind(named),
        interface_object=interface_object,
        inaccessible=inaccessible,
        keys=keys,
        external_fields=external_fields,
    )


def _read_key(
    subgraph: _Subgraph, type_name: str, directive: DirectiveNode, issues: _Issues
) -> Key | None:
    args = _arguments(directive)
    fields_text = args.get("fields")
    if not isinstance(fields_text, str):
        issues.error(
            "KEY_INVALID_FIELDS_TYPE",
            f"@key on {type_name} needs a string `fields` argument",
            subgraph.name,
        )
        return None
    try:
        selection = _parse_field_set(fields_text)
    except GraphQLSyntaxError as exc:
        issues.error(
            "KEY_INVALID_FIELDS",
            f'@key(fields: "{fields_text}") on {type_name} does not parse: {exc.message}',
            subgraph.name,
        )
        return None
    return Key(
        subgraph=subgraph.name,
        fields=fields_text,
        selection=selection,
        resolvable=args.get("resolvable", True) is not False,
    )


def _field_nodes(named: GraphQLNamedType) -> Iterator[tuple[Node, FieldDefinitionNode]]:
    """(declaring type node, field node) for each field, definition then extensions."""
    for node in (named.ast_node, *named.extension_ast_nodes):
        if node is None:
            continue
        for field_node in getattr(node, "fields", None) or ():
            if isinstance(field_node, FieldDefinitionNode):
                yield node, field_node


def _merge_fields(merged_type: _MergedType, issues: _Issues) -> None:
    interfaces: dict[str, None] = {}
    for occurrence in merged_type.occurrences:
        subgraph = occurrence.subgraph
        named = occurrence.type
        assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        interfaces.update((i.name, None) for i in named.interfaces)
        key_fields = {
            field_name
            for key in occurrence.keys
            for field_name in _top_level_fields(key.selection)
        }
        for type_node, field_node in _field_nodes(named):
            field_name = field_node.name.value
            if merged_type.name == "Query" and field_name in FEDERATION_ROOT_FIELDS:
                continue
            definition = _read_field(
                subgraph,
                merged_type.name,
                type_node,
                field_node,
                external=field_name in occurrence.external_fields,
                key_field=field_name in key_fields,
                issues=issues,
            )
            definition.interface_object = occurrence.interface_object
            merged_field = merged_type.fields.setdefault(
                field_name, _MergedField(field_name)
            )
            merged_field.definitions.append(definition)
    merged_type.interfaces = list(interfaces)


def _read_field(
    subgraph: _Subgraph,
    type_name: str,
    type_node: Node,
    field_node: FieldDefinitionNode,
    *,
    external: bool,
    key_field: bool,
    issues: _Issues,
) -> _FieldInSubgraph:
    definition = _FieldInSubgraph(
        subgraph=subgraph,
        node=field_node,
        external=external,
        shareable=not subgraph.fed2
        or key_field
        or subgraph.has(type_node, "shareable"),
        key_field=key_field,
        inaccessible=False,
    )
    coordinate = f"{type_name}.{field_node.name.value}"
    for directive_name, directive in subgraph.directives(field_node):
        args = _arguments(directive)
        if directive_name == "external":
            definition.external = True
        elif directive_name == "shareable":
            definition.shareable = True
        elif directive_name == "inaccessible":
            definition.inaccessible = True
        elif directive_name == "override":
            source = args.get("from")
            definition.override_from = source if isinstance(source, str) else None
            if args.get("label") is not None:
                issues.hint(
                    "OVERRIDE_LABEL_IGNORED",
                    f"@override on {coordinate} has a label; the gateway applies "
                    "the override fully",
                    subgraph.name,
                )
        elif directive_name in ("requires", "provides"):
            text = args.get("fields")
            code = f"{directive_name.upper()}_INVALID_FIELDS"
            if not isinstance(text, str):
                issues.error(
                    code,
                    f"@{directive_name} on {coordinate} needs a string `fields`",
                    subgraph.name,
                )
                continue
            try:
                selection = _parse_field_set(text)
            except GraphQLSyntaxError as exc:
                issues.error(
                    code,
                    f'@{directive_name}(fields: "{text}") on {coordinate} does not '
                    f"parse: {exc.message}",
                    subgraph.name,
                )
                continue
            setattr(definition, directive_name, selection)
    return definition


def _merge_union(merged_type: _MergedType) -> None:
    members: dict[str, None] = {}
    for occurrence in merged_type.occurrences:
        assert isinstance(occurrence.type, GraphQLUnionType)
        members.update((member.name, None) for member in occurrence.type.types)
    merged_type.members = list(members)


def _merge_enum(merged_type: _MergedType) -> None:
    """Enum values: the union over subgraphs (the gateway's rule, simpler than
    Apollo's input/output-dependent one)."""
    for occurrence in merged_type.occurrences:
        assert isinstance(occurrence.type, GraphQLEnumType)
        for value_name, value in occurrence.type.values.items():
            node = value.ast_node
            if node is None:
                continue
            merged_type.values.setdefault(value_name, node)
            if occurrence.subgraph.has(node, "inaccessible"):
                merged_type.inaccessible_values.add(value_name)


def _merge_input(merged_type: _MergedType, issues: _Issues) -> None:
    """Input object fields: the intersection over subgraphs, most restrictive type.

    See https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/composition
    """
    per_field: dict[str, list[tuple[_Subgraph, InputValueDefinitionNode]]] = {}
    for occurrence in merged_type.occurrences:
        assert isinstance(occurrence.type, GraphQLInputObjectType)
        for input_field in occurrence.type.fields.values():
            if input_field.ast_node is not None:
                per_field.setdefault(input_field.ast_node.name.value, []).append(
                    (occurrence.subgraph, input_field.ast_node)
                )
    everywhere = len(merged_type.occurrences)
    common = 0
    for field_name, definitions in per_field.items():
        coordinate = f"{merged_type.name}.{field_name}"
        if len(definitions) < everywhere:
            missing = [
                s
                for s in merged_type.subgraph_names
                if s not in {d[0].name for d in definitions}
            ]
            if any(_is_required(node) for _, node in definitions):
                issues.error(
                    "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                    f"input field {coordinate} is required in "
                    f"{_names(d[0].name for d in definitions if _is_required(d[1]))} "
                    f"but missing in {_names(missing)}",
                    *merged_type.subgraph_names,
                )
            continue
        common += 1
        merged = _merge_input_values(coordinate, "input field", definitions, issues)
        if merged is not None:
            merged_type.input_fields.append(merged)
    if not common:
        issues.error(
            "EMPTY_MERGED_INPUT_TYPE",
            f"input type {merged_type.name} has no field common to all the "
            f"subgraphs that define it ({_names(merged_type.subgraph_names)})",
            *merged_type.subgraph_names,
        )


def _merge_input_values(
    coordinate: str,
    what: str,
    definitions: Sequence[tuple[_Subgraph, InputValueDefinitionNode]],
    issues: _Issues,
) -> InputValueDefinitionNode | None:
    """One input field or argument: the most restrictive type, one default value.
    ``None`` when the definitions conflict (an issue is recorded) or it is
    ``@inaccessible``."""
    first = definitions[0][1]
    merged_type: TypeNode | None = first.type
    default: ValueNode | None = None
    default_from: str | None = None
    inaccessible = False
    for subgraph, node in definitions:
        merged_type = (
            _merge_type_nodes(merged_type, node.type, output=False)
            if merged_type is not None
            else None
        )
        if node.default_value is not None:
            if default is None:
                default, default_from = node.default_value, subgraph.name
            elif print_ast(default) != print_ast(node.default_value):
                issues.error(
                    "ARGUMENT_DEFAULT_MISMATCH"
                    if what == "argument"
                    else "INPUT_FIELD_DEFAULT_MISMATCH",
                    f"{what} {coordinate} has default {print_ast(default)} in "
                    f"{default_from!r} but {print_ast(node.default_value)} in "
                    f"{subgraph.name!r}",
                    cast(str, default_from),
                    subgraph.name,
                )
        inaccessible = inaccessible or subgraph.has(node, "inaccessible")
    if merged_type is None:
        described = ", ".join(
            f"{print_ast(node.type)} in {s.name!r}" for s, node in definitions
        )
        issues.error(
            "ARGUMENT_TYPE_MISMATCH" if what == "argument" else "FIELD_TYPE_MISMATCH",
            f"{what} {coordinate} has incompatible types: {described}",
            *(s.name for s, _ in definitions),
        )
        return None
    if inaccessible:
        return None
    return InputValueDefinitionNode(
        description=next(
            (n.description for _, n in definitions if n.description), None
        ),
        name=first.name,
        type=merged_type,
        default_value=default,
        directives=_kept_directives(node for _, node in definitions),
    )


def _implementations(merged: dict[str, _MergedType]) -> dict[str, list[str]]:
    """Interface name -> the object types that implement it, in merge order."""
    implementations: dict[str, list[str]] = {}
    for merged_type in merged.values():
        if merged_type.kind is TypeKind.OBJECT:
            for interface in merged_type.interfaces:
                implementations.setdefault(interface, []).append(merged_type.name)
    return implementations


def _copy_interface_object_fields(merged: dict[str, _MergedType]) -> None:
    """Fields an ``@interfaceObject`` subgraph adds to an interface also belong to
    every implementation, resolved by that subgraph (Federation 2.3)."""
    implementations = _implementations(merged)
    for interface in merged.values():
        if not interface.interface_object_in:
            continue
        for implementation in implementations.get(interface.name, ()):
            fields = merged[implementation].fields
            for field_name, merged_field in interface.fields.items():
                copied = [d for d in merged_field.definitions if d.interface_object]
                target = fields.setdefault(field_name, _MergedField(field_name))
                if not target.definitions:
                    target.definitions.extend(copied)


def _compute_possible_types(merged: dict[str, _MergedType]) -> None:
    implementations = _implementations(merged)
    for merged_type in merged.values():
        if merged_type.kind is TypeKind.UNION:
            merged_type.possible_types = list(merged_type.members)
        elif merged_type.kind is TypeKind.INTERFACE:
            merged_type.possible_types = implementations.get(merged_type.name, [])


# --- Step 4: validate ----------------------------------------------------------------


def _validate(
    merged: dict[str, _MergedType], subgraphs: Sequence[_Subgraph], issues: _Issues
) -> None:
    """Apply the Federation 2 rules; resolve sources, types and arguments."""
    subgraph_names = {s.name for s in subgraphs}
    for merged_type in merged.values():
        for occurrence in merged_type.occurrences:
            _validate_keys(merged_type, occurrence, issues)
        for merged_field in merged_type.fields.values():
            _resolve_field_type(merged_type, merged_field, issues)
            _resolve_arguments(merged_type, merged_field, issues)
            _resolve_sources(merged_type, merged_field, subgraph_names, issues)
            for definition in merged_field.definitions:
                if definition.interface_object and merged_type.kind is TypeKind.OBJECT:
                    continue  # copied from an @interfaceObject: checked there
                _validate_requires(merged_type, merged_field, definition, issues)
                _validate_provides(merged_type, merged_field, definition, issues)
        if merged_type.kind is TypeKind.OBJECT:
            _validate_sharing(merged_type, issues)
    _validate_inaccessible_references(merged, issues)
    query = merged.get("Query")
    if query is None or not any(not f.inaccessible for f in query.fields.values()):
        issues.error(
            "NO_QUERIES",
            "no subgraph defines an accessible field on the Query type",
            *(s.name for s in subgraphs),
        )


def _validate_keys(
    merged_type: _MergedType, occurrence: _TypeInSubgraph, issues: _Issues
) -> None:
    subgraph = occurrence.subgraph
    for key in occurrence.keys:
        for problem in _field_set_problems(
            subgraph.schema, merged_type.name, key.selection
        ):
            issues.error(
                "KEY_INVALID_FIELDS",
                f'@key(fields: "{key.fields}") on {merged_type.name}: {problem}',
                subgraph.name,
            )


def _resolve_field_type(
    merged_type: _MergedType, merged_field: _MergedField, issues: _Issues
) -> None:
    """Output field types must agree up to nullability; the merged type is the most
    permissive one over the subgraphs that resolve the field."""
    definitions = merged_field.definitions
    shapes = {_type_shape(d.node.type) for d in definitions}
    if len(shapes) > 1:
        described = ", ".join(
            f"{print_ast(d.node.type)} in {d.subgraph.name!r}" for d in definitions
        )
        issues.error(
            "FIELD_TYPE_MISMATCH",
            f"field {merged_type.name}.{merged_field.name} has incompatible types: "
            f"{described}",
            *(d.subgraph.name for d in definitions),
        )
        return
    resolving = [d for d in definitions if not d.external] or definitions
    merged: TypeNode | None = resolving[0].node.type
    for definition in resolving[1:]:
        assert merged is not None
        merged = _merge_type_nodes(merged, definition.node.type, output=True)
    merged_field.type = merged


def _resolve_arguments(
    merged_type: _MergedType, merged_field: _MergedField, issues: _Issues
) -> None:
    """Arguments: the intersection over the subgraphs that resolve the field."""
    definitions = [d for d in merged_field.definitions if not d.external] or (
        merged_field.definitions
    )
    per_argument: dict[str, list[tuple[_Subgraph, InputValueDefinitionNode]]] = {}
    for definition in definitions:
        for argument in definition.node.arguments or ():
            per_argument.setdefault(argument.name.value, []).append(
                (definition.subgraph, argument)
            )
    coordinate = f"{merged_type.name}.{merged_field.name}"
    for argument_name, found in per_argument.items():
        argument_coordinate = f"{coordinate}({argument_name}:)"
        if len(found) < len(definitions):
            required_in = [s.name for s, node in found if _is_required(node)]
            if required_in:
                having = {s.name for s, _ in found}
                issues.error(
                    "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                    f"argument {argument_coordinate} is required in "
                    f"{_names(required_in)} but missing in "
                    f"{_names(d.subgraph.name for d in definitions if d.subgraph.name not in having)}",
                    *(d.subgraph.name for d in definitions),
                )
            continue
        merged = _merge_input_values(argument_coordinate, "argument", found, issues)
        if merged is not None:
            merged_field.arguments.append(merged)


def _resolve_sources(
    merged_type: _MergedType,
    merged_field: _MergedField,
    subgraph_names: set[str],
    issues: _Issues,
) -> None:
    """Which subgraphs resolve the field, after ``@external`` and ``@override``."""
    coordinate = f"{merged_type.name}.{merged_field.name}"
    overridden: set[str] = set()
    for definition in merged_field.definitions:
        source = definition.override_from
        if source is None:
            continue
        if source == definition.subgraph.name:
            issues.error(
                "OVERRIDE_FROM_SELF_ERROR",
                f"@override on {coordinate} names its own subgraph {source!r}",
                source,
            )
        elif source not in subgraph_names:
            issues.hint(
                "FROM_SUBGRAPH_DOES_NOT_EXIST",
                f"@override(from: {source!r}) on {coordinate}: there is no subgraph "
                f"{source!r}; the directive has no effect",
                definition.subgraph.name,
            )
        else:
            overridden.add(source)
    for definition in merged_field.definitions:
        name = definition.subgraph.name
        if name in overridden and not definition.key_field:
            continue
        if definition.external and not definition.key_field:
            merged_field.external_in.add(name)
            continue
        merged_field.sources.append(
            FieldSource(
                subgraph=name,
                requires=definition.requires,
                provides=definition.provides,
            )
        )
    if not merged_field.sources and merged_type.kind is TypeKind.OBJECT:
        issues.error(
            "EXTERNAL_MISSING_ON_BASE",
            f"field {coordinate} is @external in every subgraph that defines it "
            f"({_names(d.subgraph.name for d in merged_field.definitions)}): no "
            "subgraph resolves it",
            *(d.subgraph.name for d in merged_field.definitions),
        )


def _validate_requires(
    merged_type: _MergedType,
    merged_field: _MergedField,
    definition: _FieldInSubgraph,
    issues: _Issues,
) -> None:
    if definition.requires is None:
        return
    subgraph = definition.subgraph
    coordinate = f"{merged_type.name}.{merged_field.name}"
    text = _print_field_set(definition.requires)
    problems = _field_set_problems(
        subgraph.schema, merged_type.name, definition.requires
    )
    for problem in problems:
        issues.error(
            "REQUIRES_INVALID_FIELDS",
            f'@requires(fields: "{text}") on {coordinate}: {problem}',
            subgraph.name,
        )
    if problems:
        return
    not_external = [
        field_name
        for field_name in _top_level_fields(definition.requires)
        if not _is_external(merged_type, subgraph.name, field_name)
    ]
    if not_external:
        issues.error(
            "REQUIRES_FIELDS_MISSING_EXTERNAL",
            f'@requires(fields: "{text}") on {coordinate} in {subgraph.name!r}: '
            f"{_names(f'{merged_type.name}.{n}' for n in not_external)} must be "
            f"@external in {subgraph.name!r}",
            subgraph.name,
        )


def _validate_provides(
    merged_type: _MergedType,
    merged_field: _MergedField,
    definition: _FieldInSubgraph,
    issues: _Issues,
) -> None:
    if definition.provides is None:
        return
    subgraph = definition.subgraph
    coordinate = f"{merged_type.name}.{merged_field.name}"
    text = _print_field_set(definition.provides)
    returned = subgraph.schema.get_type(
        _named_type_node(definition.node.type).name.value
    )
    if not isinstance(returned, GraphQLObjectType | GraphQLInterfaceType):
        issues.error(
            "PROVIDES_ON_NON_OBJECT_FIELD",
            f'@provides(fields: "{text}") on {coordinate}: its type '
            f"{print_ast(definition.node.type)} is not an object or interface type",
            subgraph.name,
        )
        return
    problems = _field_set_problems(subgraph.schema, returned.name, definition.provides)
    for problem in problems:
        issues.error(
            "PROVIDES_INVALID_FIELDS",
            f'@provides(fields: "{text}") on {coordinate}: {problem}',
            subgraph.name,
        )


def _validate_sharing(merged_type: _MergedType, issues: _Issues) -> None:
    """A field resolved by several subgraphs must be shareable in each of them."""
    for merged_field in merged_type.fields.values():
        resolving = {source.subgraph for source in merged_field.sources}
        if len(resolving) < 2:
            continue
        not_shareable = [
            d.subgraph.name
            for d in merged_field.definitions
            if d.subgraph.name in resolving and not d.shareable
        ]
        if not_shareable:
            issues.error(
                "INVALID_FIELD_SHARING",
                f"non-shareable field {merged_type.name}.{merged_field.name} is "
                f"resolved by several subgraphs ({_names(sorted(resolving))}) and is "
                f"not @shareable in {_names(not_shareable)}",
                *sorted(resolving),
            )


def _validate_inaccessible_references(
    merged: dict[str, _MergedType], issues: _Issues
) -> None:
    """An accessible element may not refer to an ``@inaccessible`` type."""
    hidden = {name for name, t in merged.items() if t.inaccessible}
    if not hidden:
        return
    for merged_type in merged.values():
        if merged_type.inaccessible:
            continue
        for merged_field in merged_type.fields.values():
            if merged_field.inaccessible or merged_field.type is None:
                continue
            references = [_named_type_node(merged_field.type).name.value]
            references += [
                _named_type_node(a.type).name.value for a in merged_field.arguments
            ]
            for reference in references:
                if reference in hidden:
                    issues.error(
                        "REFERENCED_INACCESSIBLE",
                        f"{merged_type.name}.{merged_field.name} refers to "
                        f"@inaccessible type {reference} but is not @inaccessible",
                        *merged_type.subgraph_names,
                    )
        for input_field in merged_type.input_fields:
            reference = _named_type_node(input_field.type).name.value
            if reference in hidden:
                issues.error(
                    "REFERENCED_INACCESSIBLE",
                    f"{merged_type.name}.{input_field.name.value} refers to "
                    f"@inaccessible type {reference} but is not @inaccessible",
                    *merged_type.subgraph_names,
                )


def _is_external(merged_type: _MergedType, subgraph: str, field_name: str) -> bool:
    merged_field = merged_type.fields.get(field_name)
    if merged_field is None:
        return False
    return any(
        d.external for d in merged_field.definitions if d.subgraph.name == subgraph
    )


def _field_set_problems(
    schema: GraphQLSchema, type_name: str, selection: SelectionSetNode
) -> list[str]:
    """What is wrong with a FieldSet on ``type_name`` in a subgraph's schema."""
    problems: list[str] = []
    parent = schema.get_type(type_name)
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            target = condition.name.value if condition else type_name
            if schema.get_type(target) is None:
                problems.append(f"unknown type {target}")
            else:
                problems += _field_set_problems(schema, target, node.selection_set)
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
        if node.arguments:
            problems.append(f"field {type_name}.{field_name} may not take arguments")
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
            problems += _field_set_problems(schema, named.name, node.selection_set)
    return problems


# --- Step 5: build the client schema and the model -----------------------------------


def _build_client_schema(
    merged: dict[str, _MergedType], subgraphs: Sequence[_Subgraph], issues: _Issues
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


def _client_type_node(merged_type: _MergedType, hidden: set[str]) -> Node | None:
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
                directives=_kept_directives(d.node for d in f.definitions),
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
                directives=_kept_directives([node]),
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
        directives=_kept_directives(o.type.ast_node for o in merged_type.occurrences),
    )


def _executable_directives(subgraphs: Sequence[_Subgraph]) -> list[Node]:
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


def _build_model(merged: dict[str, _MergedType]) -> dict[str, TypeDef]:
    types: dict[str, TypeDef] = {}
    for merged_type in merged.values():
        fields = {
            f.name: FieldDef(
                name=f.name,
                type=print_ast(f.type) if f.type is not None else "",
                sources=tuple(f.sources),
                external_in=frozenset(f.external_in),
                inaccessible=f.inaccessible,
            )
            for f in merged_type.fields.values()
        }
        types[merged_type.name] = TypeDef(
            name=merged_type.name,
            kind=merged_type.kind,
            subgraphs=frozenset(merged_type.subgraph_names),
            fields=fields,
            keys=tuple(k for o in merged_type.occurrences for k in o.keys),
            interface_object_in=frozenset(merged_type.interface_object_in),
            possible_types=tuple(merged_type.possible_types),
            inaccessible=merged_type.inaccessible,
        )
    return types


# --- Helpers -------------------------------------------------------------------------


def _arguments(directive: DirectiveNode) -> dict[str, Any]:
    return {
        argument.name.value: value_from_ast_untyped(argument.value)
        for argument in directive.arguments or ()
    }


def _kept_directives(nodes: Iterable[Node | None]) -> tuple[DirectiveNode, ...]:
    """The first ``@deprecated`` / ``@specifiedBy`` among the definitions."""
    kept: dict[str, DirectiveNode] = {}
    for node in nodes:
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in ("deprecated", "specifiedBy"):
                kept.setdefault(directive.name.value, directive)
    return tuple(kept.values())


def _named_type_node(type_node: TypeNode) -> NamedTypeNode:
    while isinstance(type_node, NonNullTypeNode | ListTypeNode):
        type_node = type_node.type
    assert isinstance(type_node, NamedTypeNode)
    return type_node


def _type_shape(type_node: TypeNode) -> str:
    """The type with nullability removed: ``[Int!]!`` -> ``[Int]``."""
    return print_ast(type_node).replace("!", "")


def _merge_type_nodes(a: TypeNode, b: TypeNode, *, output: bool) -> TypeNode | None:
    """Two compatible types merged: the most permissive (nullable) one for output
    positions, the most restrictive one for inputs; ``None`` if incompatible."""
    if isinstance(a, NonNullTypeNode) and isinstance(b, NonNullTypeNode):
        inner = _merge_type_nodes(a.type, b.type, output=output)
        return None if inner is None else NonNullTypeNode(type=inner)
    if isinstance(a, NonNullTypeNode) or isinstance(b, NonNullTypeNode):
        non_null, other = (a, b) if isinstance(a, NonNullTypeNode) else (b, a)
        assert isinstance(non_null, NonNullTypeNode)
        inner = _merge_type_nodes(non_null.type, other, output=output)
        if inner is None or output:
            return inner
        return NonNullTypeNode(type=inner)
    if isinstance(a, ListTypeNode) and isinstance(b, ListTypeNode):
        inner = _merge_type_nodes(a.type, b.type, output=output)
        return None if inner is None else ListTypeNode(type=inner)
    if (
        isinstance(a, NamedTypeNode)
        and isinstance(b, NamedTypeNode)
        and a.name.value == b.name.value
    ):
        return a
    return None


def _is_required(node: InputValueDefinitionNode) -> bool:
    return isinstance(node.type, NonNullTypeNode) and node.default_value is None


def _top_level_fields(selection: SelectionSetNode) -> list[str]:
    return [s.name.value for s in selection.selections if isinstance(s, FieldNode)]


def _print_field_set(selection: SelectionSetNode) -> str:
    return " ".join(print_ast(selection).strip()[1:-1].split())


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)
