"""The composed supergraph: the client schema and which subgraph resolves what.

Composition (``gateway.composition``) builds a ``Supergraph``; the planner reads it.
Nothing here does I/O or mutates after construction.

Vocabulary (Apollo Federation v2):

- a *source* of a field is a subgraph that can resolve it: it defines the field and the
  field is not ``@external`` there, and not taken away by an ``@override(from:)``;
- an *entity* is a type with at least one ``@key``; a subgraph can be *entered* at an
  entity through ``_entities(representations:)`` when it declares a resolvable key;
- ``requires`` is the selection (on the parent type) a source needs in the
  representation it is sent; ``provides`` is the selection (on the field's return type)
  a source resolves together with the field although it is ``@external`` there.

See https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/reference/directives
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphql import GraphQLSchema, SelectionSetNode, print_schema

from gateway.errors import CompositionIssue

__all__ = [
    "FieldDef",
    "FieldSource",
    "Key",
    "SubgraphInfo",
    "Supergraph",
    "TypeDef",
    "TypeKind",
]


class TypeKind(enum.StrEnum):
    OBJECT = "OBJECT"
    INTERFACE = "INTERFACE"
    UNION = "UNION"
    ENUM = "ENUM"
    INPUT_OBJECT = "INPUT_OBJECT"
    SCALAR = "SCALAR"


@dataclass(frozen=True, slots=True)
class Key:
    """One ``@key`` of an entity in one subgraph."""

    subgraph: str
    fields: str
    """The key as written: ``"id"``, ``"id sku"``, ``"id org { id }"``."""
    selection: SelectionSetNode
    """``fields`` parsed as a selection set on the entity type."""
    resolvable: bool = True
    """``False`` for ``@key(..., resolvable: false)``: the subgraph cannot be entered
    through ``_entities`` for this type, it only references it."""


@dataclass(frozen=True, slots=True)
class FieldSource:
    """A subgraph that can resolve a field."""

    subgraph: str
    requires: SelectionSetNode | None = None
    """``@requires(fields:)``: fields of the parent type this subgraph must be sent
    in the entity representation before it can resolve the field."""
    provides: SelectionSetNode | None = None
    """``@provides(fields:)``: fields of the return type this subgraph resolves along
    with this field although they are ``@external`` in it."""
    type: str = ""
    """The field's type in this subgraph, as it declares it (``Book``, where the
    client schema says ``Media``): type conditions sent there must fit it."""


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A field of an object or interface type, across all subgraphs."""

    name: str
    type: str
    """The field's type as printed in the client schema, e.g. ``[Review!]!``."""
    sources: tuple[FieldSource, ...]
    """The subgraphs that can resolve it, in subgraph declaration order."""
    external_in: frozenset[str] = frozenset()
    """Subgraphs where it is ``@external`` (resolvable there only when provided)."""
    inaccessible: bool = False
    """``@inaccessible``: absent from the client schema, still usable in keys and
    requires."""

    def source(self, subgraph: str) -> FieldSource | None:
        for source in self.sources:
            if source.subgraph == subgraph:
                return source
        return None

    @property
    def subgraphs(self) -> frozenset[str]:
        return frozenset(source.subgraph for source in self.sources)


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A named type across all subgraphs."""

    name: str
    kind: TypeKind
    subgraphs: frozenset[str]
    """Subgraphs that define (or extend) the type."""
    fields: Mapping[str, FieldDef] = field(default_factory=dict)
    """Object and interface fields by name; empty for other kinds."""
    keys: tuple[Key, ...] = ()
    """Every ``@key`` of the type, in every subgraph (resolvable or not)."""
    interface_object_in: frozenset[str] = frozenset()
    """Subgraphs that declare this interface as an ``@interfaceObject`` type."""
    possible_types: tuple[str, ...] = ()
    """For interfaces and unions: the object types that implement / belong to it."""
    inaccessible: bool = False

    @property
    def is_entity(self) -> bool:
        return bool(self.keys)

    def resolvable_keys(self, subgraph: str) -> tuple[Key, ...]:
        """The keys through which ``subgraph`` can be entered for this type."""
        return tuple(k for k in self.keys if k.subgraph == subgraph and k.resolvable)


@dataclass(frozen=True, slots=True)
class SubgraphInfo:
    """One subgraph as composition saw it."""

    name: str
    sdl: str
    """The subgraph's SDL as read (file, introspection or in-process module)."""
    schema: GraphQLSchema
    """The subgraph's own schema, federation definitions included, with its root
    types named ``Query``/``Mutation``/``Subscription`` whatever it called them."""
    root_type_names: Mapping[str, str] = field(default_factory=dict)
    """``{"query": "RootQuery"}`` where the subgraph named a root type differently:
    the names to use in fragments sent to that subgraph."""


@dataclass(frozen=True, slots=True)
class Supergraph:
    """The composition result: immutable, shared by every request."""

    schema: GraphQLSchema
    """The client (API) schema: federation machinery and ``@inaccessible`` removed."""
    types: Mapping[str, TypeDef]
    subgraphs: Mapping[str, SubgraphInfo]
    hash: str
    """A digest of every subgraph's SDL, in cache keys so plans never outlive it."""
    hints: tuple[CompositionIssue, ...] = ()
    """Composition warnings that did not stop it (e.g. an ``@override`` from a
    subgraph that does not exist)."""

    @property
    def sdl(self) -> str:
        return print_schema(self.schema)

    def type(self, name: str) -> TypeDef:
        return self.types[name]

    def field(self, type_name: str, field_name: str) -> FieldDef | None:
        typedef = self.types.get(type_name)
        if typedef is None:
            return None
        return typedef.fields.get(field_name)
