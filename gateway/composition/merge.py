"""Step 3: every user type grouped by name with each subgraph's federation facts."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import (
    DirectiveNode,
    FieldDefinitionNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    Node,
    SelectionSetNode,
    get_named_type,
)

from gateway.composition.inputs import input_field_groups, merge_input_values
from gateway.composition.issues import Issues
from gateway.composition.merged import (
    FieldInSubgraph,
    MergedField,
    MergedType,
    TypeInSubgraph,
)
from gateway.composition.normalise import Subgraph, field_nodes
from gateway.composition.spec import FEDERATION_ROOT_FIELDS
from gateway.composition.syntax import (
    arguments,
    parse_field_set,
)
from gateway.supergraph import Key, TypeKind

__all__ = ["implementations_of", "kind_of", "merge"]

_KIND_OF: list[tuple[type[GraphQLNamedType], TypeKind]] = [
    (GraphQLObjectType, TypeKind.OBJECT),
    (GraphQLInterfaceType, TypeKind.INTERFACE),
    (GraphQLUnionType, TypeKind.UNION),
    (GraphQLEnumType, TypeKind.ENUM),
    (GraphQLInputObjectType, TypeKind.INPUT_OBJECT),
    (GraphQLScalarType, TypeKind.SCALAR),
]


def kind_of(named: GraphQLNamedType) -> TypeKind:
    return next(kind for cls, kind in _KIND_OF if isinstance(named, cls))


def merge(subgraphs: Sequence[Subgraph], issues: Issues) -> dict[str, MergedType]:
    """Group every user type by name and read each subgraph's federation facts."""
    occurrences: dict[str, list[TypeInSubgraph]] = {}
    for subgraph in subgraphs:
        for type_name in subgraph.user_types:
            occurrence = _read_type(
                subgraph, subgraph.schema.type_map[type_name], issues
            )
            occurrences.setdefault(type_name, []).append(occurrence)

    merged: dict[str, MergedType] = {}
    for type_name, found in occurrences.items():
        kinds = {TypeKind.INTERFACE if o.interface_object else o.kind for o in found}
        if len(kinds) > 1:
            continue  # TYPE_KIND_MISMATCH reports it
        merged[type_name] = MergedType(type_name, kinds.pop(), found)

    key_fields = _key_fields(occurrences)
    for merged_type in merged.values():
        if merged_type.kind in (TypeKind.OBJECT, TypeKind.INTERFACE):
            _merge_fields(merged_type, key_fields, issues)
        elif merged_type.kind is TypeKind.UNION:
            _merge_union(merged_type)
        elif merged_type.kind is TypeKind.ENUM:
            _merge_enum(merged_type)
        elif merged_type.kind is TypeKind.INPUT_OBJECT:
            _merge_input(merged_type)
    _copy_interface_object_fields(merged)
    _compute_possible_types(merged)
    return merged


def _read_type(
    subgraph: Subgraph, named: GraphQLNamedType, issues: Issues
) -> TypeInSubgraph:
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
    return TypeInSubgraph(
        subgraph=subgraph,
        type=named,
        kind=kind_of(named),
        interface_object=interface_object,
        inaccessible=inaccessible,
        keys=keys,
        external_fields=external_fields,
    )


def _read_key(
    subgraph: Subgraph, type_name: str, directive: DirectiveNode, issues: Issues
) -> Key | None:
    args = arguments(directive)
    fields_text = args.get("fields")
    if not isinstance(fields_text, str):
        issues.error(
            "KEY_INVALID_FIELDS_TYPE",
            f"@key on {type_name} needs a string `fields` argument",
            subgraph.name,
        )
        return None
    try:
        selection = parse_field_set(fields_text)
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


def _key_fields(
    occurrences: dict[str, list[TypeInSubgraph]],
) -> set[tuple[str, str, str]]:
    """(subgraph, type, field) of every field a key selects, nested ones included
    (``@key(fields: "id { one two }")`` makes ``one`` and ``two`` key fields too)."""
    found: set[tuple[str, str, str]] = set()
    for type_name, found_in in occurrences.items():
        for occurrence in found_in:
            for key in occurrence.keys:
                _collect_key_fields(
                    occurrence.subgraph, type_name, key.selection, found
                )
    return found


def _collect_key_fields(
    subgraph: Subgraph,
    type_name: str,
    selection: SelectionSetNode,
    found: set[tuple[str, str, str]],
) -> None:
    parent = subgraph.schema.get_type(type_name)
    fields = getattr(parent, "fields", None) or {}
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            target = condition.name.value if condition else type_name
            _collect_key_fields(subgraph, target, node.selection_set, found)
        elif isinstance(node, FieldNode) and node.name.value in fields:
            found.add((subgraph.name, type_name, node.name.value))
            if node.selection_set is not None:
                named = get_named_type(fields[node.name.value].type)
                _collect_key_fields(subgraph, named.name, node.selection_set, found)


def _merge_fields(
    merged_type: MergedType, key_fields: set[tuple[str, str, str]], issues: Issues
) -> None:
    interfaces: dict[str, None] = {}
    for occurrence in merged_type.occurrences:
        subgraph = occurrence.subgraph
        named = occurrence.type
        assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        interfaces.update((i.name, None) for i in named.interfaces)
        for type_node, field_node in field_nodes(named):
            field_name = field_node.name.value
            if merged_type.name == "Query" and field_name in FEDERATION_ROOT_FIELDS:
                continue
            definition = _read_field(
                subgraph,
                merged_type.name,
                type_node,
                field_node,
                external=field_name in occurrence.external_fields,
                key_field=(subgraph.name, merged_type.name, field_name) in key_fields,
                issues=issues,
            )
            definition.interface_object = occurrence.interface_object
            merged_field = merged_type.fields.setdefault(
                field_name, MergedField(field_name)
            )
            merged_field.definitions.append(definition)
    merged_type.interfaces = list(interfaces)


def _read_field(
    subgraph: Subgraph,
    type_name: str,
    type_node: Node,
    field_node: FieldDefinitionNode,
    *,
    external: bool,
    key_field: bool,
    issues: Issues,
) -> FieldInSubgraph:
    definition = FieldInSubgraph(
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
        args = arguments(directive)
        if directive_name == "external":
            definition.external = True
        elif directive_name == "shareable":
            definition.shareable = True
        elif directive_name == "inaccessible":
            definition.inaccessible = True
        elif directive_name == "override":
            source = args.get("from")
            definition.override_from = source if isinstance(source, str) else None
            label = args.get("label")
            definition.override_label = label if isinstance(label, str) else None
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
                selection = parse_field_set(text)
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


def _merge_union(merged_type: MergedType) -> None:
    members: dict[str, None] = {}
    for occurrence in merged_type.occurrences:
        assert isinstance(occurrence.type, GraphQLUnionType)
        members.update((member.name, None) for member in occurrence.type.types)
    merged_type.members = list(members)


def _merge_enum(merged_type: MergedType) -> None:
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


def _merge_input(merged_type: MergedType) -> None:
    """Input object fields: those every subgraph defines, merged."""
    everywhere = len(merged_type.occurrences)
    for definitions in input_field_groups(merged_type).values():
        if len(definitions) == everywhere:
            merged = merge_input_values(definitions)
            if merged is not None:
                merged_type.input_fields.append(merged)


def implementations_of(merged: dict[str, MergedType]) -> dict[str, list[str]]:
    """Interface name -> the object types that implement it, in merge order."""
    implementations: dict[str, list[str]] = {}
    for merged_type in merged.values():
        if merged_type.kind is TypeKind.OBJECT:
            for interface in merged_type.interfaces:
                implementations.setdefault(interface, []).append(merged_type.name)
    return implementations


def _copy_interface_object_fields(merged: dict[str, MergedType]) -> None:
    """Fields an ``@interfaceObject`` subgraph adds to an interface also belong to
    every implementation, resolved by that subgraph (Federation 2.3)."""
    implementations = implementations_of(merged)
    for interface in merged.values():
        if not interface.interface_object_in:
            continue
        for implementation in implementations.get(interface.name, ()):
            fields = merged[implementation].fields
            for field_name, merged_field in interface.fields.items():
                copied = [d for d in merged_field.definitions if d.interface_object]
                target = fields.setdefault(field_name, MergedField(field_name))
                if not target.definitions:
                    target.definitions.extend(copied)


def _compute_possible_types(merged: dict[str, MergedType]) -> None:
    implementations = implementations_of(merged)
    for merged_type in merged.values():
        if merged_type.kind is TypeKind.UNION:
            merged_type.possible_types = list(merged_type.members)
        elif merged_type.kind is TypeKind.INTERFACE:
            merged_type.possible_types = implementations.get(merged_type.name, [])
