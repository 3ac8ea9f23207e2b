"""QueryGraph: the (type, subgraph) nodes of a supergraph and the edges between them.

The structure Apollo's query planner and Hive Router plan on (see
https://github.com/apollographql/federation/tree/main/query-graphs-js): a node is a
type as one subgraph knows it; an edge is a way to move from one node to another:

- a *field edge* ``(T, S) --f--> (U, S)``: subgraph ``S`` resolves ``T.f`` and types it
  ``U`` (its own type for the field, which may differ from the supergraph's), with the
  ``@requires`` condition it must be sent first and the ``@provides`` selection it
  resolves along;
- a *key edge* ``(T, S) --key--> (T, S')``: ``S'`` declares a resolvable ``@key`` on
  ``T`` (or on an interface of ``T`` that it sees as an ``@interfaceObject``); the
  key's fields are the condition of the edge;
- a *root edge* ``(Query, S) --> (Query, S')``: every subgraph's root is reachable
  from the gateway;
- an *abstract edge* ``(A, S) --... on O--> (O, S)``: only when ``O`` is a possible
  type of ``A`` *in* ``S``;
- ``@provides`` edges live under the providing field only; the planner follows them
  while it walks that field's selection.

The graph is built once per supergraph and is immutable; planning only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    FieldNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)

from gateway.supergraph import Key, Supergraph

__all__ = ["FieldEdge", "KeyEdge", "QueryGraph", "field_set_names"]


@dataclass(frozen=True, slots=True)
class FieldEdge:
    """``subgraph`` resolves ``type_name.name`` and types it ``target`` itself."""

    subgraph: str
    type_name: str
    name: str
    target: str
    """The field's named type in ``subgraph`` (may be an object where the supergraph
    has a union containing it, or an ``@interfaceObject`` type)."""
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None


@dataclass(frozen=True, slots=True)
class KeyEdge:
    """Objects of ``type_name`` can enter ``subgraph`` through ``_entities`` with
    ``key``; they are sent as ``__typename: entity`` (the interface, for an
    ``@interfaceObject`` subgraph)."""

    type_name: str
    subgraph: str
    key: Key
    entity: str


def field_set_names(
    node: SelectionSetNode | None, type_name: str
) -> dict[str, FieldNode]:
    """The top-level fields a field set (key, ``@requires``, ``@provides``) names for
    objects of ``type_name``."""
    found: dict[str, FieldNode] = {}
    if node is None:
        return found
    for selection in node.selections:
        if isinstance(selection, FieldNode):
            found[selection.name.value] = selection
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value == type_name:
                found.update(field_set_names(selection.selection_set, type_name))
    return found


class QueryGraph:
    """Nodes and edges of one supergraph, indexed for the planner."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.supergraph = supergraph
        self._fields: dict[tuple[str, str], dict[str, FieldEdge]] = {}
        self._keys: dict[str, tuple[KeyEdge, ...]] = {}
        self._local: dict[tuple[str, str], str | None] = {}
        self._possible: dict[tuple[str, str], frozenset[str]] = {}
        self._interface_objects: dict[str, tuple[str, ...]] = {}
        schema = supergraph.schema
        for typedef in supergraph.types.values():
            if typedef.interface_object_in:
                self._interface_objects[typedef.name] = tuple(
                    sorted(typedef.interface_object_in)
                )
        for typedef in supergraph.types.values():
            for definition in typedef.fields.values():
                for source in definition.sources:
                    edge = FieldEdge(
                        subgraph=source.subgraph,
                        type_name=typedef.name,
                        name=definition.name,
                        target=self._subgraph_field_type(
                            source.subgraph, typedef.name, definition.name
                        )
                        or _client_field_type(schema, typedef.name, definition.name),
                        requires=source.requires,
                        provides=source.provides,
                    )
                    self._fields.setdefault((typedef.name, source.subgraph), {})[
                        definition.name
                    ] = edge
        for name, named in schema.type_map.items():
            if not isinstance(named, GraphQLObjectType) or name.startswith("__"):
                continue
            edges: list[KeyEdge] = []
            entity = supergraph.types.get(name)
            if entity is not None:
                edges.extend(
                    KeyEdge(name, key.subgraph, key, name)
                    for key in entity.keys
                    if key.resolvable
                )
            for interface in named.interfaces:
                idef = supergraph.types.get(interface.name)
                if idef is None:
                    continue
                for key in idef.keys:
                    if key.resolvable and key.subgraph in idef.interface_object_in:
                        edges.append(KeyEdge(name, key.subgraph, key, interface.name))
            self._keys[name] = tuple(edges)
        for name in self._interface_objects:
            idef = supergraph.types[name]
            self._keys[name] = tuple(
                KeyEdge(name, key.subgraph, key, name)
                for key in idef.keys
                if key.resolvable
            )

    # -- nodes -------------------------------------------------------------------

    def has_type(self, subgraph: str, type_name: str) -> bool:
        info = self.supergraph.subgraphs.get(subgraph)
        return info is not None and info.schema.get_type(type_name) is not None

    def local_type(self, subgraph: str, type_name: str) -> str | None:
        """The name ``subgraph`` knows objects of ``type_name`` by: the type itself,
        or an interface of it that the subgraph declares as an
        ``@interfaceObject``; ``None`` when it does not know them."""
        key = (subgraph, type_name)
        if key in self._local:
            return self._local[key]
        found: str | None = None
        if self.has_type(subgraph, type_name):
            found = type_name
        else:
            named = self.supergraph.schema.get_type(type_name)
            for interface in getattr(named, "interfaces", ()):
                if subgraph in self._interface_objects.get(interface.name, ()):
                    found = interface.name
                    break
        self._local[key] = found
        return found

    def is_interface_object(self, subgraph: str, type_name: str) -> bool:
        """``type_name`` is an interface that ``subgraph`` sees as an object."""
        return subgraph in self._interface_objects.get(type_name, ())

    def possible_types(self, subgraph: str, abstract: str) -> frozenset[str]:
        """The object types ``subgraph`` can return where it types a field
        ``abstract``: type conditions on other types are not valid there."""
        key = (subgraph, abstract)
        found = self._possible.get(key)
        if found is None:
            info = self.supergraph.subgraphs.get(subgraph)
            named = info.schema.get_type(abstract) if info is not None else None
            if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
                assert info is not None
                found = frozenset(t.name for t in info.schema.get_possible_types(named))
            elif named is not None:
                found = frozenset((abstract,))
            else:
                found = frozenset()
            self._possible[key] = found
        return found

    # -- edges -------------------------------------------------------------------

    def field(self, type_name: str, subgraph: str, name: str) -> FieldEdge | None:
        """The field edge out of ``(type_name, subgraph)``, if the subgraph
        resolves the field."""
        edges = self._fields.get((type_name, subgraph))
        return edges.get(name) if edges else None

    def sources(self, type_name: str, name: str) -> tuple[FieldEdge, ...]:
        definition = self.supergraph.field(type_name, name)
        if definition is None:
            return ()
        found = []
        for source in definition.sources:
            edge = self.field(type_name, source.subgraph, name)
            if edge is not None:
                found.append(edge)
        return tuple(found)

    def keys(self, type_name: str) -> tuple[KeyEdge, ...]:
        """Every key edge into a node of ``type_name``."""
        return self._keys.get(type_name, ())

    def interface_entries(self, interface: str) -> tuple[KeyEdge, ...]:
        """Key edges into subgraphs that define ``interface`` with its
        implementations: where an ``@interfaceObject``'s real type is learnt."""
        typedef = self.supergraph.types.get(interface)
        if typedef is None:
            return ()
        return tuple(
            KeyEdge(interface, key.subgraph, key, interface)
            for key in typedef.keys
            if key.resolvable and key.subgraph not in typedef.interface_object_in
        )

    # -- helpers -----------------------------------------------------------------

    def _subgraph_field_type(
        self, subgraph: str, type_name: str, name: str
    ) -> str | None:
        info = self.supergraph.subgraphs.get(subgraph)
        if info is None:
            return None
        local = self.local_type(subgraph, type_name)
        named = info.schema.get_type(local) if local else None
        fields = getattr(named, "fields", None)
        if not fields or name not in fields:
            return None
        return get_named_type(fields[name].type).name


def _client_field_type(schema: object, type_name: str, name: str) -> str:
    named = schema.get_type(type_name)  # type: ignore[attr-defined]
    fields = getattr(named, "fields", None) or {}
    if name in fields:
        return get_named_type(fields[name].type).name
    return "String"
