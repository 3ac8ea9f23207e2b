"""Each field's type, arguments and sources, over the subgraphs that define it."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import (
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    TypeNode,
    print_ast,
)

from gateway.composition.inputs import (
    argument_groups,
    merge_input_values,
    resolving_definitions,
)
from gateway.composition.merged import MergedField, MergedType
from gateway.supergraph import FieldSource, TypeKind

__all__ = ["common_supertype_of", "resolve"]


def resolve(merged: dict[str, MergedType], subgraph_names: set[str]) -> None:
    """Resolve every field's type, arguments and sources, in place."""
    for merged_type in merged.values():
        for merged_field in merged_type.fields.values():
            _resolve_field_type(merged, merged_field)
            _resolve_arguments(merged_field)
            _resolve_sources(merged_type, merged_field, subgraph_names)


def _resolve_field_type(
    merged: dict[str, MergedType], merged_field: MergedField
) -> None:
    """The common supertype of the field's types in its subgraphs (``None`` when
    there is none: FIELD_TYPE_MISMATCH reports it).

    Nullability merges to the nullable type; a named type merges to the union or
    interface that contains every other one (``Book`` in one subgraph, ``Media``
    containing ``Book`` in another: ``Media``). Each source keeps its own type.
    """
    merged_field.type = common_supertype_of(
        [d.node.type for d in merged_field.definitions], merged
    )


def common_supertype_of(
    types: Sequence[TypeNode], merged: dict[str, MergedType]
) -> TypeNode | None:
    result: TypeNode | None = types[0]
    for type_node in types[1:]:
        if result is None:
            return None
        result = _common_supertype(result, type_node, merged)
    return result


def _common_supertype(
    a: TypeNode, b: TypeNode, merged: dict[str, MergedType]
) -> TypeNode | None:
    if isinstance(a, NonNullTypeNode) and isinstance(b, NonNullTypeNode):
        inner = _common_supertype(a.type, b.type, merged)
        return None if inner is None else NonNullTypeNode(type=inner)
    if isinstance(a, NonNullTypeNode):
        return _common_supertype(a.type, b, merged)
    if isinstance(b, NonNullTypeNode):
        return _common_supertype(a, b.type, merged)
    if isinstance(a, ListTypeNode) and isinstance(b, ListTypeNode):
        inner = _common_supertype(a.type, b.type, merged)
        return None if inner is None else ListTypeNode(type=inner)
    if isinstance(a, NamedTypeNode) and isinstance(b, NamedTypeNode):
        if a.name.value == b.name.value or _is_named_subtype(b, a, merged):
            return a
        if _is_named_subtype(a, b, merged):
            return b
    return None


def _is_named_subtype(
    sub: NamedTypeNode, sup: NamedTypeNode, merged: dict[str, MergedType]
) -> bool:
    """``sub`` is a member of the union ``sup`` or implements the interface ``sup``."""
    abstract = merged.get(sup.name.value)
    concrete = merged.get(sub.name.value)
    if abstract is None or concrete is None:
        return False
    if abstract.kind is TypeKind.UNION:
        return sub.name.value in abstract.members
    if abstract.kind is TypeKind.INTERFACE:
        return sup.name.value in concrete.interfaces
    return False


def _resolve_arguments(merged_field: MergedField) -> None:
    """Arguments: those every resolving subgraph defines, merged."""
    everywhere = len(resolving_definitions(merged_field))
    for definitions in argument_groups(merged_field).values():
        if len(definitions) == everywhere:
            merged = merge_input_values(definitions)
            if merged is not None:
                merged_field.arguments.append(merged)


def _resolve_sources(
    merged_type: MergedType, merged_field: MergedField, subgraph_names: set[str]
) -> None:
    """Which subgraphs resolve the field, after ``@external`` and ``@override``
    (an override naming the subgraph itself or no subgraph has no effect; rules
    report those)."""
    overridden = {
        d.override_from
        for d in merged_field.definitions
        if d.override_from is not None
        and d.override_from != d.subgraph.name
        and d.override_from in subgraph_names
    }
    for definition in merged_field.definitions:
        name = definition.subgraph.name
        if name in overridden and not definition.key_field:
            continue
        if definition.external and not (
            definition.key_field
            and merged_type.name in definition.subgraph.extension_types
        ):
            # Federation 2: an @external key field is not resolved there, unless
            # the subgraph only extends the type (then it echoes the key it got).
            merged_field.external_in.add(name)
            continue
        merged_field.sources.append(
            FieldSource(
                subgraph=name,
                requires=definition.requires,
                provides=definition.provides,
                type=print_ast(definition.node.type),
            )
        )
