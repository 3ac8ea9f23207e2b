"""The planner's model (``TypeDef``/``FieldDef``) built from the merged types."""

from __future__ import annotations

from graphql import print_ast

from gateway.composition.merged import MergedType
from gateway.supergraph import FieldDef, TypeDef

__all__ = ["build_model"]


def build_model(merged: dict[str, MergedType]) -> dict[str, TypeDef]:
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
