"""Each field's type, arguments and sources, over the subgraphs that define it."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import (
    InputValueDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    TypeNode,
    print_ast,
)

from gateway.composition.issues import Issues
from gateway.composition.merge import merge_input_values
from gateway.composition.merged import MergedField, MergedType
from gateway.composition.normalise import Subgraph
from gateway.composition.syntax import is_required, names
from gateway.supergraph import FieldSource, TypeKind

__all__ = ["resolve"]


def resolve(
    merged: dict[str, MergedType], subgraph_names: set[str], issues: Issues
) -> None:
    """Resolve every field's type, arguments and sources, in place."""
    for merged_type in merged.values():
        for merged_field in merged_type.fields.values():
            _resolve_field_type(merged, merged_type, merged_field, issues)
            _resolve_arguments(merged_type, merged_field, issues)
            _resolve_sources(merged_type, merged_field, subgraph_names, issues)


def _resolve_field_type(
    merged: dict[str, MergedType],
    merged_type: MergedType,
    merged_field: MergedField,
    issues: Issues,
) -> None:
    """FIELD_TYPE_MISMATCH: the types a field has in its subgraphs must have a common
    supertype among them; it becomes the field's type.

    Nullability merges to the nullable type; a named type merges to the union or
    interface that contains every other one (``Book`` in one subgraph, ``Media``
    containing ``Book`` in another: ``Media``). Each source keeps its own type.
    """
    definitions = merged_field.definitions
    if _common_supertype_of([d.node.type for d in definitions], merged) is None:
        described = ", ".join(
            f"{print_ast(d.node.type)} in {d.subgraph.name!r}" for d in definitions
        )
        issues.error(
            "FIELD_TYPE_MISMATCH",
            f"field {merged_type.name}.{merged_field.name} has incompatible types: "
            f"{described}",
            *(d.subgraph.name for d in definitions),
        )
        return
    merged_field.type = _common_supertype_of([d.node.type for d in definitions], merged)


def _common_supertype_of(
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


def _resolve_arguments(
    merged_type: MergedType, merged_field: MergedField, issues: Issues
) -> None:
    """Arguments: the intersection over the subgraphs that resolve the field."""
    definitions = [d for d in merged_field.definitions if not d.external] or (
        merged_field.definitions
    )
    per_argument: dict[str, list[tuple[Subgraph, InputValueDefinitionNode]]] = {}
    for definition in definitions:
        for argument in definition.node.arguments or ():
            per_argument.setdefault(argument.name.value, []).append(
                (definition.subgraph, argument)
            )
    coordinate = f"{merged_type.name}.{merged_field.name}"
    for argument_name, found in per_argument.items():
        argument_coordinate = f"{coordinate}({argument_name}:)"
        if len(found) < len(definitions):
            required_in = [s.name for s, node in found if is_required(node)]
            if required_in:
                having = {s.name for s, _ in found}
                issues.error(
                    "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                    f"argument {argument_coordinate} is required in "
                    f"{names(required_in)} but missing in "
                    f"{names(d.subgraph.name for d in definitions if d.subgraph.name not in having)}",
                    *(d.subgraph.name for d in definitions),
                )
            continue
        merged = merge_input_values(argument_coordinate, "argument", found, issues)
        if merged is not None:
            merged_field.arguments.append(merged)


def _resolve_sources(
    merged_type: MergedType,
    merged_field: MergedField,
    subgraph_names: set[str],
    issues: Issues,
) -> None:
    """Which subgraphs resolve the field, after ``@external`` and ``@override``."""
    coordinate = f"{merged_type.name}.{merged_field.name}"
    overridden: set[str] = set()
    for definition in merged_field.definitions:
        source = definition.override_from
        if source is None:
            continue
        if source == definition.subgraph.name:
            issues.error(
                "OVERRIDE_FROM_SELF_ERROR",
                f"@override on {coordinate} names its own subgraph {source!r}",
                source,
            )
        elif source not in subgraph_names:
            issues.hint(
                "FROM_SUBGRAPH_DOES_NOT_EXIST",
                f"@override(from: {source!r}) on {coordinate}: there is no subgraph "
                f"{source!r}; the directive has no effect",
                definition.subgraph.name,
            )
        else:
            overridden.add(source)
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
