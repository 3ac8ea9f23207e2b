"""TYPE_KIND_MISMATCH: a type has one kind in every subgraph (an ``@interfaceObject``
is the interface it stands for)."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.merge import kind_of
from gateway.supergraph import TypeKind

__all__ = ["type_kind_mismatch"]


def type_kind_mismatch(context: CompositionContext) -> None:
    seen: dict[str, list[tuple[str, TypeKind, bool]]] = {}
    for subgraph in context.subgraphs:
        for type_name in subgraph.user_types:
            named = subgraph.schema.type_map[type_name]
            interface_object = any(
                subgraph.has(node, "interfaceObject")
                for node in (named.ast_node, *named.extension_ast_nodes)
            )
            seen.setdefault(type_name, []).append(
                (subgraph.name, kind_of(named), interface_object)
            )
    for type_name, found in seen.items():
        kinds = {TypeKind.INTERFACE if io else kind for _, kind, io in found}
        if len(kinds) < 2:
            continue
        described = ", ".join(
            f"{kind.value.lower()}{' (@interfaceObject)' if io else ''} in {name!r}"
            for name, kind, io in found
        )
        context.issues.error(
            "TYPE_KIND_MISMATCH",
            f"type {type_name} is defined with different kinds: {described}",
            *(name for name, _, _ in found),
        )
