"""A hand-made ``Supergraph`` for unit tests that must not depend on composition.

It reads ownership (sources, keys, @requires, @provides, @external) straight from each
subgraph's SDL; the client schema is given by the test. Only what the planner needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ariadne.contrib.federation import make_federated_schema
from graphql import (
    BooleanValueNode,
    DirectiveNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    StringValueNode,
    UnionTypeDefinitionNode,
    build_schema,
    is_abstract_type,
    parse,
    print_ast,
)
from graphql.language import OperationDefinitionNode

from gateway.supergraph import (
    FieldDef,
    FieldSource,
    Key,
    SubgraphInfo,
    Supergraph,
    TypeDef,
    TypeKind,
)

__all__ = ["build_supergraph"]


def _argument(directive: DirectiveNode, name: str) -> object:
    for argument in directive.arguments:
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, (StringValueNode, BooleanValueNode)):
                return value.value
    return None


def _selection(fields: str):  # type: ignore[no-untyped-def]
    definition = parse("{" + fields + "}").definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    return definition.selection_set


_FEDERATION_TYPES = {"_Service", "_Entity", "_Any", "_FieldSet", "FieldSet"}


def merge_client_sdl(subgraphs: Mapping[str, str]) -> str:
    """A naive client schema: every type's fields merged across subgraphs, federation
    types, fields and directives left out."""
    kinds: dict[str, str] = {}
    members: dict[str, dict[str, str]] = {}
    implements: dict[str, list[str]] = {}
    for sdl in subgraphs.values():
        for definition in parse(sdl).definitions:
            name_node = getattr(definition, "name", None)
            if name_node is None or name_node.value in _FEDERATION_TYPES:
                continue
            name = name_node.value
            if isinstance(
                definition, (ObjectTypeDefinitionNode, ObjectTypeExtensionNode)
            ):
                kind = "type"
            elif isinstance(definition, InterfaceTypeDefinitionNode):
                kind = "interface"
            elif isinstance(definition, UnionTypeDefinitionNode):
                kind = "union"
            elif isinstance(definition, EnumTypeDefinitionNode):
                kind = "enum"
            elif isinstance(definition, InputObjectTypeDefinitionNode):
                kind = "input"
            elif isinstance(definition, ScalarTypeDefinitionNode):
                kind = "scalar"
            else:
                continue
            kinds.setdefault(name, kind)
            entries = members.setdefault(name, {})
            for interface in getattr(definition, "interfaces", None) or ():
                if interface.name.value not in implements.setdefault(name, []):
                    implements[name].append(interface.name.value)
            for item in getattr(definition, "fields", None) or ():
                if item.name.value in ("_entities", "_service"):
                    continue
                entries.setdefault(
                    item.name.value,
                    print_ast(
                        item.__class__(
                            **{
                                k: getattr(item, k)
                                for k in item.keys
                                if k != "directives"
                            },
                            directives=(),
                        )
                    ),
                )
            for value in getattr(definition, "values", None) or ():
                entries.setdefault(value.name.value, value.name.value)
            for member in getattr(definition, "types", None) or ():
                entries.setdefault(member.name.value, member.name.value)
    out = []
    for name, kind in kinds.items():
        if kind == "scalar":
            out.append(f"scalar {name}")
        elif kind == "union":
            out.append(f"union {name} = " + " | ".join(members[name]))
        else:
            header = f"{kind} {name}"
            if implements.get(name):
                header += " implements " + " & ".join(implements[name])
            body = "\n  ".join(members[name].values())
            out.append(f"{header} {{\n  {body}\n}}")
    return "\n\n".join(out) + "\n"


def build_supergraph(
    subgraphs: Mapping[str, str], client_sdl: str | None = None
) -> Supergraph:
    client = build_schema(client_sdl or merge_client_sdl(subgraphs))
    infos: dict[str, SubgraphInfo] = {}
    sources: dict[tuple[str, str], list[FieldSource]] = {}
    external: dict[tuple[str, str], set[str]] = {}
    keys: dict[str, list[Key]] = {}
    type_subgraphs: dict[str, set[str]] = {}
    for name, sdl in subgraphs.items():
        infos[name] = SubgraphInfo(name, sdl, make_federated_schema(sdl))
        for definition in parse(sdl).definitions:
            if not isinstance(
                definition,
                (
                    ObjectTypeDefinitionNode,
                    ObjectTypeExtensionNode,
                    InterfaceTypeDefinitionNode,
                    UnionTypeDefinitionNode,
                ),
            ):
                continue
            type_name = definition.name.value
            type_subgraphs.setdefault(type_name, set()).add(name)
            for directive in definition.directives or ():
                if directive.name.value == "key":
                    fields = str(_argument(directive, "fields"))
                    resolvable = _argument(directive, "resolvable")
                    keys.setdefault(type_name, []).append(
                        Key(name, fields, _selection(fields), resolvable is not False)
                    )
            for field in getattr(definition, "fields", None) or ():
                assert isinstance(field, FieldDefinitionNode)
                directives = {d.name.value: d for d in field.directives or ()}
                at = (type_name, field.name.value)
                if "external" in directives:
                    external.setdefault(at, set()).add(name)
                    continue
                requires = directives.get("requires")
                provides = directives.get("provides")
                sources.setdefault(at, []).append(
                    FieldSource(
                        name,
                        _selection(str(_argument(requires, "fields")))
                        if requires
                        else None,
                        _selection(str(_argument(provides, "fields")))
                        if provides
                        else None,
                    )
                )
    types: dict[str, TypeDef] = {}
    for type_name, gql_type in client.type_map.items():
        if type_name.startswith("__"):
            continue
        kind = TypeKind(
            type(gql_type)
            .__name__.removeprefix("GraphQL")
            .removesuffix("Type")
            .upper()
            .replace("INPUTOBJECT", "INPUT_OBJECT")
        )
        fields = {}
        for field_name, field in getattr(gql_type, "fields", {}).items():
            if kind == TypeKind.INPUT_OBJECT:
                break
            at = (type_name, field_name)
            fields[field_name] = FieldDef(
                field_name,
                str(field.type),
                tuple(sources.get(at, ())),
                frozenset(external.get(at, ())),
            )
        possible: tuple[str, ...] = ()
        if is_abstract_type(gql_type):
            possible = tuple(t.name for t in client.get_possible_types(gql_type))  # type: ignore[arg-type]
        types[type_name] = TypeDef(
            type_name,
            kind,
            frozenset(type_subgraphs.get(type_name, ())),
            fields,
            tuple(keys.get(type_name, ())),
            possible_types=possible,
        )
    digest = hashlib.sha256(repr(sorted(subgraphs.items())).encode()).hexdigest()
    return Supergraph(client, types, infos, digest)
