"""What every composition rule reads: the normalised subgraphs and the merged types."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gateway.composition.issues import Issues
from gateway.composition.merged import FieldInSubgraph, MergedField, MergedType
from gateway.composition.normalise import Subgraph
from gateway.supergraph import TypeKind

__all__ = ["CompositionContext"]


@dataclass(frozen=True, slots=True)
class CompositionContext:
    """The input of every rule in ``gateway.composition.rules``."""

    subgraphs: Sequence[Subgraph]
    merged: dict[str, MergedType]
    """Every user type by name, fields resolved (types, arguments, sources)."""
    issues: Issues

    def subgraph(self, name: str) -> Subgraph:
        return next(s for s in self.subgraphs if s.name == name)

    def definitions(self) -> Iterator[tuple[MergedType, MergedField, FieldInSubgraph]]:
        """Every field definition of every subgraph, except the copies an
        ``@interfaceObject`` adds to implementations (checked on the interface)."""
        for merged_type in self.merged.values():
            for merged_field in merged_type.fields.values():
                for definition in merged_field.definitions:
                    if (
                        definition.interface_object
                        and merged_type.kind is TypeKind.OBJECT
                    ):
                        continue
                    yield merged_type, merged_field, definition
