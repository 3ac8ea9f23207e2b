"""An Apollo supergraph SDL (``join__`` directives) read back into its subgraphs.

rover, Apollo Router and Hive Gateway run from a supergraph SDL that composition
wrote: every type and field carries ``@join__type`` / ``@join__field`` /
``@join__implements`` / ``@join__unionMember`` / ``@join__enumValue`` naming the
subgraphs (the ``join__Graph`` enum, with each subgraph's name and URL) that define
it and how. ``extract_subgraphs`` turns that back into one Federation 2 SDL per
subgraph, and ``load_supergraph`` composes those, so a gateway started from a
supergraph SDL and one started from the subgraphs' own SDL hold the same
``Supergraph``.

Read: ``@join__graph(name, url)``; ``@join__type(graph, key, resolvable, extension,
isInterfaceObject)``; ``@join__field(graph, requires, provides, type, external,
override, usedOverridden)``; ``@join__implements(graph, interface)``;
``@join__unionMember(graph, member)``; ``@join__enumValue(graph)``;
``@join__owner(graph)`` (join v0.1); ``@inaccessible`` and ``@tag`` (through
``@link`` renames); ``@link``. Elements without ``join__`` directives belong to
every subgraph of their type (join v0.1 and hand-written supergraphs omit them).

See https://specs.apollo.dev/join/v0.5 and https://specs.apollo.dev/link/v1.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from graphql import (
    ConstDirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    GraphQLSyntaxError,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
    parse,
    print_ast,
)

from gateway.composition.compose import compose
from gateway.composition.syntax import arguments, where
from gateway.errors import CompositionError, CompositionIssue
from gateway.supergraph import Supergraph

__all__ = ["ExtractedSubgraph", "extract_subgraphs", "load_supergraph"]

JOIN_SPEC = "https://specs.apollo.dev/join/"
LINK_SPEC = "https://specs.apollo.dev/link/"
CORE_SPEC = "https://specs.apollo.dev/core/"
INACCESSIBLE_SPEC = "https://specs.apollo.dev/inaccessible/"
TAG_SPEC = "https://specs.apollo.dev/tag/"
_AUTHORIZATION = ("authenticated", "requiresScopes", "policy")
"""Kept on the subgraphs' elements (``gateway.authorization`` reads them there);
their ``@link`` specs are https://specs.apollo.dev/authenticated/v0.1 and
https://specs.apollo.dev/requiresScopes/v0.1."""

_FED2_LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: '
    '["@key", "@external", "@requires", "@provides", "@shareable", "@override", '
    '"@inaccessible", "@interfaceObject", "@tag", "@extends"])'
)


@dataclass(frozen=True, slots=True)
class ExtractedSubgraph:
    """One subgraph as a supergraph SDL describes it."""

    name: str
    url: str
    sdl: str
    """Federation 2 SDL rebuilt from the ``join__`` directives."""


def load_supergraph(sdl: str) -> Supergraph:
    """Compose the subgraphs a supergraph SDL was composed from.

    Raises ``CompositionError`` when the SDL is not a supergraph or they do not
    compose.
    """
    extracted = extract_subgraphs(sdl)
    return compose([(s.name, s.sdl) for s in extracted])


def extract_subgraphs(sdl: str) -> list[ExtractedSubgraph]:
    """The subgraphs a supergraph SDL names, in ``join__Graph`` order."""
    try:
        document = parse(sdl)
    except GraphQLSyntaxError as exc:
        raise _error(f"{where(exc)}{exc.message}") from None
    names = _feature_names(document)
    graphs = _graphs(document, names)
    return _Extractor(document, names, graphs).run()


def _error(message: str) -> CompositionError:
    return CompositionError(
        [CompositionIssue("INVALID_SUPERGRAPH", f"supergraph SDL: {message}", ())]
    )


@dataclass(frozen=True, slots=True)
class _Names:
    """The local names of the spec elements the document uses (``@link(as:)``)."""

    join: str = "join"
    inaccessible: str = "inaccessible"
    tag: str = "tag"
    machinery: frozenset[str] = frozenset()
    """Prefixes of spec-owned type and directive names (``join__``, ``link__``...)."""

    def directive(self, node: object, name: str) -> list[ConstDirectiveNode]:
        return [
            d
            for d in getattr(node, "directives", None) or ()
            if d.name.value == f"{self.join}__{name}"
        ]

    def is_machinery(self, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in self.machinery)


def _feature_names(document: DocumentNode) -> _Names:
    join, inaccessible, tag = "join", "inaccessible", "tag"
    machinery = {"join__", "link__", "core__"}
    found_join = False
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value not in ("link", "core"):
                continue
            args = arguments(directive)
            url = args.get("url") or args.get("feature")
            if not isinstance(url, str):
                continue
            local = args.get("as")
            default = url.rstrip("/").rsplit("/", 2)[-2]
            name = str(local) if isinstance(local, str) else default
            if url.startswith(JOIN_SPEC):
                join, found_join = name, True
            elif url.startswith(INACCESSIBLE_SPEC):
                inaccessible = name
            elif url.startswith(TAG_SPEC):
                tag = name
            if not url.startswith((INACCESSIBLE_SPEC, TAG_SPEC)):
                machinery.add(f"{name}__")
    if not found_join:
        raise _error(
            "no @link (or @core) to the join spec (https://specs.apollo.dev/join/): "
            "this is not a supergraph SDL"
        )
    machinery.add(f"{join}__")
    return _Names(join, inaccessible, tag, frozenset(machinery))


def _graphs(document: DocumentNode, names: _Names) -> dict[str, tuple[str, str]]:
    """``join__Graph`` enum value -> (subgraph name, URL)."""
    enum_name = f"{names.join}__Graph"
    for definition in document.definitions:
        if (
            isinstance(definition, EnumTypeDefinitionNode)
            and definition.name.value == enum_name
        ):
            graphs: dict[str, tuple[str, str]] = {}
            for value in definition.values or ():
                found = names.directive(value, "graph")
                if not found:
                    raise _error(f"{enum_name}.{value.name.value} has no @join__graph")
                args = arguments(found[0])
                name, url = args.get("name"), args.get("url")
                if not isinstance(name, str) or not name:
                    raise _error(f"{enum_name}.{value.name.value}: no graph name")
                graphs[value.name.value] = (name, url if isinstance(url, str) else "")
            if not graphs:
                raise _error(f"{enum_name} has no values: there is no subgraph")
            return graphs
    raise _error(f"no enum {enum_name}: this is not a supergraph SDL")


@dataclass(slots=True)
class _TypeIn:
    """What one subgraph holds of one type."""

    keys: list[tuple[str, bool]] = field(default_factory=list)
    extension: bool = False
    interface_object: bool = False


class _Extractor:
    def __init__(
        self,
        document: DocumentNode,
        names: _Names,
        graphs: dict[str, tuple[str, str]],
    ) -> None:
        self.document = document
        self.names = names
        self.graphs = graphs
        self.out: dict[str, list[str]] = {graph: [] for graph in graphs}
        self.roots = self._root_names()
        self._current = _TypeIn()
        """The type (in one subgraph) whose fields are being extracted."""

    def run(self) -> list[ExtractedSubgraph]:
        for definition in self.document.definitions:
            if isinstance(definition, TypeDefinitionNode) and not (
                self.names.is_machinery(definition.name.value)
            ):
                self._type(definition)
        extracted = []
        for graph, (name, url) in self.graphs.items():
            body = "\n\n".join(self.out[graph])
            schema = self._schema_block(graph)
            extracted.append(
                ExtractedSubgraph(name, url, f"{_FED2_LINK}\n\n{schema}{body}\n")
            )
        return extracted

    # --- per type -------------------------------------------------------------

    def _root_names(self) -> dict[str, str]:
        roots: dict[str, str] = {}
        for definition in self.document.definitions:
            if isinstance(definition, SchemaDefinitionNode):
                for operation in definition.operation_types:
                    roots[operation.operation.value] = operation.type.name.value
        return roots

    def _schema_block(self, graph: str) -> str:
        if all(
            name == {"query": "Query", "mutation": "Mutation"}.get(op, "Subscription")
            for op, name in self.roots.items()
        ):
            return ""
        defined = "\n".join(self.out[graph])
        entries = [
            f"{op}: {name}"
            for op, name in self.roots.items()
            if f"type {name} " in defined or f"type {name}\n" in defined
        ]
        return f"schema {{ {' '.join(entries)} }}\n\n" if entries else ""

    def _type_graphs(self, node: TypeDefinitionNode) -> dict[str, _TypeIn]:
        found = self.names.directive(node, "type")
        if not found:
            owners = self.names.directive(node, "owner")
            if owners:
                return {str(arguments(owners[0]).get("graph")): _TypeIn()}
            return {graph: _TypeIn() for graph in self.graphs}
        per_graph: dict[str, _TypeIn] = {}
        for directive in found:
            args = arguments(directive)
            graph = args.get("graph")
            if not isinstance(graph, str) or graph not in self.graphs:
                raise _error(f"@join__type on {node.name.value} names no known graph")
            entry = per_graph.setdefault(graph, _TypeIn())
            key = args.get("key")
            if isinstance(key, str):
                entry.keys.append((key, args.get("resolvable", True) is not False))
            entry.extension = entry.extension or args.get("extension") is True
            entry.interface_object = (
                entry.interface_object or args.get("isInterfaceObject") is True
            )
        return per_graph

    def _type(self, node: TypeDefinitionNode) -> None:
        per_graph = self._type_graphs(node)
        owner = self.names.directive(node, "owner")
        owner_graph = str(arguments(owner[0]).get("graph")) if owner else None
        for graph, info in per_graph.items():
            text = self._type_in(node, graph, info, owner_graph)
            if text is not None:
                self.out[graph].append(text)

    def _type_in(
        self,
        node: TypeDefinitionNode,
        graph: str,
        info: _TypeIn,
        owner_graph: str | None,
    ) -> str | None:
        name = node.name.value
        description = _description(node)
        type_directives = self._element_directives(node)
        if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            keys = [
                f"@key(fields: {json.dumps(fields)}"
                + (", resolvable: false)" if not resolvable else ")")
                for fields, resolvable in info.keys
            ]
            fields = self._fields(node, graph, info, owner_graph)
            if info.interface_object:
                keyword, implements = "type", ""
                type_directives = ["@interfaceObject", *type_directives]
            else:
                keyword = (
                    "interface"
                    if isinstance(node, InterfaceTypeDefinitionNode)
                    else "type"
                )
                implements = self._implements(node, graph)
            if info.extension and keyword == "type":
                keyword = "extend type"
            directives = " ".join([*keys, *type_directives])
            body = "\n".join(f"  {f}" for f in fields)
            if not fields and name in self.roots.values():
                return None
            return (
                f"{description}{keyword} {name}{implements}"
                f"{' ' + directives if directives else ''} {{\n{body}\n}}"
            )
        if isinstance(node, UnionTypeDefinitionNode):
            members = self._union_members(node, graph)
            if not members:
                return None
            directives = " ".join(type_directives)
            return (
                f"{description}union {name}{' ' + directives if directives else ''}"
                f" = {' | '.join(members)}"
            )
        if isinstance(node, EnumTypeDefinitionNode):
            values = []
            for value in node.values or ():
                in_graphs = [
                    str(arguments(d).get("graph"))
                    for d in self.names.directive(value, "enumValue")
                ]
                if in_graphs and graph not in in_graphs:
                    continue
                extra = " ".join(self._element_directives(value))
                values.append(
                    f"  {_description(value)}{value.name.value}"
                    f"{' ' + extra if extra else ''}"
                )
            directives = " ".join(type_directives)
            return (
                f"{description}enum {name}{' ' + directives if directives else ''}"
                f" {{\n" + "\n".join(values) + "\n}"
            )
        if isinstance(node, InputObjectTypeDefinitionNode):
            input_fields = [
                self._input_value(f)
                for f in node.fields or ()
                if self._field_in(f, graph, owner_graph=None) is not None
            ]
            directives = " ".join(type_directives)
            return (
                f"{description}input {name}{' ' + directives if directives else ''}"
                " {\n" + "\n".join(f"  {f}" for f in input_fields) + "\n}"
            )
        if isinstance(node, ScalarTypeDefinitionNode):
            directives = " ".join(type_directives)
            return f"{description}scalar {name}{' ' + directives if directives else ''}"
        return None

    def _implements(
        self, node: ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode, graph: str
    ) -> str:
        declared = [i.name.value for i in node.interfaces or ()]
        joined = self.names.directive(node, "implements")
        if joined:
            declared = [
                str(arguments(d).get("interface"))
                for d in joined
                if arguments(d).get("graph") == graph
            ]
        else:
            declared = [i for i in declared if self._type_in_graph(i, graph)]
        return f" implements {' & '.join(declared)}" if declared else ""

    def _union_members(self, node: UnionTypeDefinitionNode, graph: str) -> list[str]:
        joined = self.names.directive(node, "unionMember")
        if joined:
            return [
                str(arguments(d).get("member"))
                for d in joined
                if arguments(d).get("graph") == graph
            ]
        return [
            m.name.value
            for m in node.types or ()
            if self._type_in_graph(m.name.value, graph)
        ]

    def _type_in_graph(self, type_name: str, graph: str) -> bool:
        for definition in self.document.definitions:
            if (
                isinstance(definition, TypeDefinitionNode)
                and definition.name.value == type_name
            ):
                return graph in self._type_graphs(definition)
        return False

    # --- per field ------------------------------------------------------------

    def _field_in(
        self,
        node: FieldDefinitionNode | InputValueDefinitionNode,
        graph: str,
        owner_graph: str | None,
    ) -> dict[str, object] | None:
        """The ``@join__field`` arguments for ``graph``, ``{}`` when the field
        belongs to it without one, ``None`` when it is not in that subgraph."""
        directives = self.names.directive(node, "field")
        joined = [arguments(d) for d in directives if "graph" in arguments(d)]
        if directives and not joined:
            # ``@join__field`` without a graph: no subgraph defines the field on
            # this type (an @interfaceObject adds it to the implementations).
            return None
        if not joined:
            if owner_graph is not None and owner_graph != graph:
                keys = " ".join(fields for fields, _ in self._current.keys)
                if _mentions(keys, node.name.value):
                    return {"external": True}
                return None
            return {}
        for args in joined:
            if args.get("graph") == graph:
                return args
        return None

    def _fields(
        self,
        node: ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode,
        graph: str,
        info: _TypeIn,
        owner_graph: str | None,
    ) -> list[str]:
        self._current = info
        printed: list[str] = []
        for field_node in node.fields or ():
            args = self._field_in(field_node, graph, owner_graph)
            if args is None:
                continue
            printed.append(self._field(node, field_node, graph, args))
        return printed

    def _field(
        self,
        parent: ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode,
        node: FieldDefinitionNode,
        graph: str,
        args: dict[str, object],
    ) -> str:
        type_text = args.get("type")
        if not isinstance(type_text, str):
            type_text = self._own_type(node, graph)
        directives: list[str] = []
        external = args.get("external") is True or args.get("usedOverridden") is True
        if external:
            directives.append("@external")
        elif isinstance(parent, ObjectTypeDefinitionNode) and self._shared(parent):
            # The supergraph was validated when it was composed: sharing is
            # allowed wherever the field is resolved.
            directives.append("@shareable")
        for name in ("requires", "provides"):
            value = args.get(name)
            if isinstance(value, str):
                directives.append(f"@{name}(fields: {json.dumps(value)})")
        override = args.get("override")
        if isinstance(override, str) and not external:
            directives.append(f"@override(from: {json.dumps(override)})")
        directives += self._element_directives(node)
        arguments_text = ""
        if node.arguments:
            arguments_text = (
                "(" + ", ".join(self._input_value(a) for a in node.arguments) + ")"
            )
        return (
            f"{_description(node)}{node.name.value}{arguments_text}: {type_text}"
            f"{' ' + ' '.join(directives) if directives else ''}"
        )

    def _shared(self, parent: ObjectTypeDefinitionNode) -> bool:
        """The type is in several subgraphs."""
        return len(self._type_graphs(parent)) > 1

    def _own_type(self, node: FieldDefinitionNode, graph: str) -> str:
        """The field's type in ``graph`` when ``@join__field(type:)`` does not say:
        the supergraph's, or, when that abstract type is not in the subgraph, its
        one possible type that is (composers that omit ``type:`` for a subtype)."""
        printed = print_ast(node.type)
        named = printed.replace("[", "").replace("]", "").replace("!", "")
        if self._type_in_graph(named, graph):
            return printed
        candidates = [
            name
            for name in self._possible_types(named)
            if self._type_in_graph(name, graph)
        ]
        if len(candidates) != 1:
            return printed
        return printed.replace(named, candidates[0])

    def _possible_types(self, abstract: str) -> list[str]:
        found: list[str] = []
        for definition in self.document.definitions:
            if (
                isinstance(definition, UnionTypeDefinitionNode)
                and definition.name.value == abstract
            ):
                found += [m.name.value for m in definition.types or ()]
            elif isinstance(definition, ObjectTypeDefinitionNode) and abstract in {
                i.name.value for i in definition.interfaces or ()
            }:
                found.append(definition.name.value)
        return found

    def _input_value(self, node: InputValueDefinitionNode) -> str:
        default = (
            f" = {print_ast(node.default_value)}"
            if node.default_value is not None
            else ""
        )
        extra = " ".join(self._element_directives(node))
        return (
            f"{_description(node)}{node.name.value}: {print_ast(node.type)}{default}"
            f"{' ' + extra if extra else ''}"
        )

    def _element_directives(self, node: object) -> list[str]:
        """``@inaccessible``, ``@tag`` and ``@deprecated``/``@specifiedBy`` on an
        element, under their federation names."""
        kept: list[str] = []
        for directive in getattr(node, "directives", None) or ():
            name = directive.name.value
            if name == self.names.inaccessible:
                kept.append("@inaccessible")
            elif name == self.names.tag:
                kept.append("@tag" + print_ast(directive)[len(name) + 1 :])
            elif name in ("deprecated", "specifiedBy", *_AUTHORIZATION):
                kept.append(print_ast(directive))
        return kept


def _description(node: object) -> str:
    description = getattr(node, "description", None)
    if not isinstance(description, StringValueNode):
        return ""
    return json.dumps(description.value) + " "


def _mentions(field_set: str, name: str) -> bool:
    return name in field_set.replace("{", " ").replace("}", " ").split()
