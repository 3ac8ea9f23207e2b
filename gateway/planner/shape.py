"""ShapeBuilder: the client's selection normalised into a ShapeSelection tree.

Fragments are expanded per concrete type, fields merged by response key
(``CollectFields``, https://spec.graphql.org/October2021/#sec-Field-Collection),
``@skip``/``@include`` evaluated with the request's values (they are part of the plan
cache key). Each field gets the key it has in the merged subgraph data: the client's
response key, or an internal alias where the gateway's own selections (keys,
``@requires``) or a same-named field of another type would collide with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLCompositeType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLIncludeDirective,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSkipDirective,
    GraphQLString,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    is_leaf_type,
)
from graphql.execution.values import get_directive_values
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from gateway.operation import Operation
from gateway.planner.nodes import ShapeField, ShapeSelection
from gateway.planner.query_graph import field_set_names
from gateway.supergraph import Supergraph

__all__ = [
    "CHECK_EXPRESSIONS",
    "INTROSPECTION",
    "TYPENAME",
    "EnumCheck",
    "ShapeBuilder",
    "is_plain",
    "leaf_check",
]

TYPENAME = "__typename"
INTROSPECTION = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
_TYPENAME_TYPE: GraphQLOutputType = GraphQLNonNull(GraphQLString)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _is_int(value: Any) -> bool:
    return type(value) is int and _INT_MIN <= value <= _INT_MAX


def _is_float(value: Any) -> bool:
    return (type(value) is int) or (type(value) is float and math.isfinite(value))


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


def _is_id(value: Any) -> bool:
    return type(value) is str or type(value) is int


@dataclass(frozen=True, slots=True)
class EnumCheck:
    """Whether a subgraph value is one of the client schema's values of an enum."""

    values: frozenset[str]

    def __call__(self, value: Any) -> bool:
        return type(value) is str and value in self.values


_BUILT_IN_CHECKS: dict[str, Callable[[Any], bool]] = {
    GraphQLInt.name: _is_int,
    GraphQLFloat.name: _is_float,
    GraphQLString.name: _is_string,
    GraphQLBoolean.name: _is_boolean,
    GraphQLID.name: _is_id,
}


CHECK_EXPRESSIONS: dict[Callable[[Any], bool], str] = {
    _is_int: f"(type({{v}}) is int and {_INT_MIN} <= {{v}} <= {_INT_MAX})",
    _is_float: "(type({v}) is int or (type({v}) is float and isfinite({v})))",
    _is_string: "type({v}) is str",
    _is_boolean: "type({v}) is bool",
    _is_id: "(type({v}) is str or type({v}) is int)",
}
"""Each built-in check as a Python expression of ``{v}`` (compiled completion
programs inline them; ``isfinite`` is ``math.isfinite``)."""


def leaf_check(named: GraphQLNamedType) -> Callable[[Any], bool] | None:
    """Whether a subgraph value is a value of the client's leaf type: an enum value
    the client schema has (not an ``@inaccessible`` one), or a built-in scalar of the
    right JSON type. Custom scalars accept anything."""
    if isinstance(named, GraphQLEnumType):
        return EnumCheck(frozenset(named.values))
    return _BUILT_IN_CHECKS.get(named.name)


def is_plain(shape: ShapeSelection) -> bool:
    """No abstract types, internal aliases or local fields anywhere in ``shape``."""
    if shape.abstract:
        return False
    for field in shape.fields_by_type[shape.type_name]:
        if field.local or field.data_key != field.response_key:
            return False
        if field.selection is not None and not is_plain(field.selection):
            return False
    return True


class ShapeBuilder:
    """Builds the ``ShapeSelection`` of one operation."""

    def __init__(
        self, supergraph: Supergraph, operation: Operation, variables: Mapping[str, Any]
    ) -> None:
        self.supergraph = supergraph
        self.schema = supergraph.schema
        self.operation = operation
        self.variables = dict(variables)
        self._injectable_cache: dict[str, frozenset[str]] = {}

    def build(self, root: GraphQLObjectType) -> ShapeSelection:
        return self._shape(root, [self.operation.definition.selection_set], True)

    def _included(self, node: SelectionNode) -> bool:
        if not node.directives:
            return True
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
            include = get_directive_values(
                GraphQLIncludeDirective, node, self.variables
            )
        except GraphQLError:  # no value (planning without a request): included
            return True
        if skip is not None and skip.get("if") is True:
            return False
        return not (include is not None and include.get("if") is False)

    def _applies(
        self, condition: str | None, obj: GraphQLObjectType | GraphQLInterfaceType
    ) -> bool:
        if condition is None or condition == obj.name:
            return True
        if isinstance(obj, GraphQLInterfaceType):
            return False
        cond_type = self.schema.get_type(condition)
        if isinstance(cond_type, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.schema.is_sub_type(cond_type, obj)
        return False

    def _collect(
        self,
        obj: GraphQLObjectType | GraphQLInterfaceType,
        selection_sets: Iterable[SelectionSetNode],
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if self._applies(condition.name.value if condition else None, obj):
                        self._collect(obj, [selection.selection_set], grouped, visited)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.operation.fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    visited.add(name)
                    if self._applies(fragment.type_condition.name.value, obj):
                        self._collect(obj, [fragment.selection_set], grouped, visited)

    def _shape(
        self,
        parent: GraphQLCompositeType,
        selection_sets: list[SelectionSetNode],
        root: bool = False,
    ) -> ShapeSelection:
        if isinstance(parent, GraphQLObjectType):
            objects: list[GraphQLObjectType] = [parent]
        else:
            assert isinstance(parent, (GraphQLInterfaceType, GraphQLUnionType))
            objects = list(self.schema.get_possible_types(parent))
        by_type: dict[str, tuple[ShapeField, ...]] = {}
        for obj in objects:
            grouped: dict[str, list[FieldNode]] = {}
            self._collect(obj, selection_sets, grouped, set())
            by_type[obj.name] = tuple(
                self._shape_field(obj, key, nodes, root)
                for key, nodes in grouped.items()
            )
        if isinstance(parent, GraphQLInterfaceType):
            # An @interfaceObject subgraph answers with the interface's own name.
            grouped = {}
            self._collect(parent, selection_sets, grouped, set())
            by_type[parent.name] = tuple(
                self._shape_field(parent, key, nodes, root)
                for key, nodes in grouped.items()
            )
        if len(by_type) > 1:
            by_type = self._separate_conflicts(by_type)
        return ShapeSelection(
            type_name=parent.name,
            fields_by_type=by_type,
            abstract=is_abstract_type(parent),
        )

    def _separate_conflicts(
        self, by_type: dict[str, tuple[ShapeField, ...]]
    ) -> dict[str, tuple[ShapeField, ...]]:
        """Same response key, different types under two type conditions (``ID`` in
        one, ``ID!`` in the other): GraphQL forbids that in one selection set
        (https://spec.graphql.org/October2021/#sec-Field-Selection-Merging), so each
        type's field gets its own key in the subgraph operation."""
        seen: dict[str, set[str]] = {}
        for type_name, fields in by_type.items():
            for f in fields:
                if f.name == TYPENAME or f.local:
                    continue
                seen.setdefault(f.data_key, set()).update(
                    self._signatures(type_name, f.name)
                )
        conflicting = {
            key for key, signatures in seen.items() if len(_by_subgraph(signatures)) > 0
        }
        if not conflicting:
            return by_type
        return {
            type_name: tuple(
                replace(f, data_key=f"_{f.data_key}__{type_name}")
                if f.data_key in conflicting and f.name != TYPENAME and not f.local
                else f
                for f in fields
            )
            for type_name, fields in by_type.items()
        }

    def _signatures(self, type_name: str, field_name: str) -> set[str]:
        """``"subgraph\\0type"`` for each subgraph typing ``type_name.field_name``."""
        found: set[str] = set()
        for name, info in self.supergraph.subgraphs.items():
            named = info.schema.get_type(type_name)
            fields = getattr(named, "fields", None)
            if fields and field_name in fields:
                found.add(f"{name}\0{fields[field_name].type}")
        return found

    def _shape_field(
        self,
        obj: GraphQLObjectType | GraphQLInterfaceType,
        key: str,
        nodes: list[FieldNode],
        root: bool,
    ) -> ShapeField:
        node = nodes[0]
        name = node.name.value
        if name == TYPENAME:
            return ShapeField(key, key, name, _TYPENAME_TYPE, obj.name, node=node)
        if root and name in INTROSPECTION:
            meta = INTROSPECTION[name]
            return ShapeField(
                key, key, name, meta.type, obj.name, local=True, node=node
            )
        definition: GraphQLField = obj.fields[name]
        named = get_named_type(definition.type)
        selection = None
        if is_composite_type(named):
            assert isinstance(
                named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)
            )
            sets = [n.selection_set for n in nodes if n.selection_set is not None]
            selection = self._shape(named, sets)
        data_key = key
        if key != name and (key in obj.fields or key.startswith("__")):
            # The gateway may select a field of this name itself (keys, @requires).
            data_key = f"_{key}__{name}"
        elif node.arguments and name in self._injectable(obj.name):
            # ... without these arguments: keep the two apart.
            data_key = f"_{key}__{name}"
        wrapped = definition.type
        non_null = isinstance(wrapped, GraphQLNonNull)
        if non_null:
            wrapped = wrapped.of_type  # type: ignore[union-attr]
        return ShapeField(
            key,
            data_key,
            name,
            definition.type,
            obj.name,
            selection,
            node=node,
            leaf=is_leaf_type(wrapped),
            non_null=non_null,
            check=leaf_check(named) if selection is None else None,
        )

    def _injectable(self, type_name: str) -> frozenset[str]:
        """Fields of ``type_name`` the gateway may select itself: keys, ``@requires``."""
        found = self._injectable_cache.get(type_name)
        if found is None:
            names: set[str] = set()
            typedef = self.supergraph.types.get(type_name)
            if typedef is not None:
                for key in typedef.keys:
                    names.update(field_set_names(key.selection, type_name))
                for field in typedef.fields.values():
                    for source in field.sources:
                        if source.requires is not None:
                            names.update(field_set_names(source.requires, type_name))
            found = self._injectable_cache[type_name] = frozenset(names)
        return found


def _by_subgraph(signatures: set[str]) -> set[str]:
    """Subgraphs that type one response key differently for different types."""
    types: dict[str, set[str]] = {}
    for signature in signatures:
        subgraph, _, printed = signature.partition("\0")
        types.setdefault(subgraph, set()).add(printed)
    return {subgraph for subgraph, printed in types.items() if len(printed) > 1}
