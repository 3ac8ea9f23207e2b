"""The merged view of every type across subgraphs that validation rules read."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLNamedType,
    InputValueDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
)

from gateway.composition.normalise import Subgraph
from gateway.supergraph import FieldSource, Key, TypeKind

__all__ = ["FieldInSubgraph", "MergedField", "MergedType", "TypeInSubgraph"]


@dataclass(slots=True)
class FieldInSubgraph:
    """One field of one type as one subgraph defines it."""

    subgraph: Subgraph
    node: FieldDefinitionNode
    external: bool
    shareable: bool
    key_field: bool
    inaccessible: bool
    override_from: str | None = None
    override_label: str | None = None
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    interface_object: bool = False
    """Defined on an ``@interfaceObject`` type: copied to every implementation."""


@dataclass(slots=True)
class TypeInSubgraph:
    """One type as one subgraph defines it."""

    subgraph: Subgraph
    type: GraphQLNamedType
    kind: TypeKind
    interface_object: bool
    inaccessible: bool
    keys: list[Key]
    external_fields: set[str]


@dataclass(slots=True)
class MergedField:
    name: str
    definitions: list[FieldInSubgraph] = field(default_factory=list)
    type: TypeNode | None = None
    sources: list[FieldSource] = field(default_factory=list)
    external_in: set[str] = field(default_factory=set)
    arguments: list[InputValueDefinitionNode] = field(default_factory=list)

    @property
    def inaccessible(self) -> bool:
        return any(d.inaccessible for d in self.definitions)

    def source(self, subgraph: str) -> FieldSource | None:
        return next((s for s in self.sources if s.subgraph == subgraph), None)


@dataclass(slots=True)
class MergedType:
    name: str
    kind: TypeKind
    occurrences: list[TypeInSubgraph] = field(default_factory=list)
    fields: dict[str, MergedField] = field(default_factory=dict)
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
