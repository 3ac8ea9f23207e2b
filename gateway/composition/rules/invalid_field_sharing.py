"""INVALID_FIELD_SHARING: a field several subgraphs resolve is ``@shareable`` in each.

Key fields (nested ones included) are shareable. A Federation 2 ``@external`` key
field does not resolve the field, so it never counts; an ``@external`` field a
``@provides`` of its subgraph names does resolve it there (at that path), so the
other subgraphs must share it, as Apollo's composition requires.
"""

from __future__ import annotations

from graphql import FieldNode, InlineFragmentNode, SelectionSetNode, get_named_type

from gateway.composition.context import CompositionContext
from gateway.composition.normalise import Subgraph
from gateway.composition.syntax import named_type_node, names
from gateway.supergraph import TypeKind

__all__ = ["invalid_field_sharing"]


def invalid_field_sharing(context: CompositionContext) -> None:
    provided = _provided_fields(context)
    for merged_type in context.merged.values():
        if merged_type.kind is not TypeKind.OBJECT:
            continue
        for merged_field in merged_type.fields.values():
            resolving = {source.subgraph for source in merged_field.sources}
            resolving |= {
                d.subgraph.name
                for d in merged_field.definitions
                if (d.subgraph.name, merged_type.name, merged_field.name) in provided
            }
            if len(resolving) < 2:
                continue
            not_shareable = [
                d.subgraph.name
                for d in merged_field.definitions
                if d.subgraph.name in resolving and not d.shareable and not d.external
            ]
            if not_shareable:
                context.issues.error(
                    "INVALID_FIELD_SHARING",
                    f"non-shareable field {merged_type.name}.{merged_field.name} is "
                    f"resolved by several subgraphs ({names(sorted(resolving))}) and "
                    f"is not @shareable in {names(not_shareable)}",
                    *sorted(resolving),
                )


def _provided_fields(context: CompositionContext) -> set[tuple[str, str, str]]:
    """(subgraph, type, field) of every field a ``@provides`` names."""
    found: set[tuple[str, str, str]] = set()
    for _, _, definition in context.definitions():
        if definition.provides is not None:
            returned = named_type_node(definition.node.type).name.value
            _collect(definition.subgraph, returned, definition.provides, found)
    return found


def _collect(
    subgraph: Subgraph,
    type_name: str,
    selection: SelectionSetNode,
    found: set[tuple[str, str, str]],
) -> None:
    fields = getattr(subgraph.schema.get_type(type_name), "fields", None) or {}
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            target = condition.name.value if condition else type_name
            _collect(subgraph, target, node.selection_set, found)
        elif isinstance(node, FieldNode) and node.name.value in fields:
            found.add((subgraph.name, type_name, node.name.value))
            if node.selection_set is not None:
                named = get_named_type(fields[node.name.value].type)
                _collect(subgraph, named.name, node.selection_set, found)
