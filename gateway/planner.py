"""QueryPlanner: a validated operation -> a QueryPlan over the supergraph's subgraphs.

How it plans (Apollo Federation v2 semantics, see
https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/entities/intro):

1. The client selection is normalised into a ``ShapeSelection`` tree: fragments
   expanded per concrete type, fields merged by response key (``CollectFields``,
   https://spec.graphql.org/October2021/#sec-Field-Collection), ``@skip``/``@include``
   evaluated with the request's values (they are part of the plan cache key).
2. The tree is walked with a *current fetch group* (one subgraph operation). A field
   the current subgraph resolves (it is a source, or ``@provides`` covers it) stays in
   the group; otherwise the parent object is an entity and the field goes to a child
   group that enters another subgraph through ``_entities``: the parent selects
   ``__typename``, a key the target accepts and the field's ``@requires``.
3. Groups become plan nodes: a group runs after the groups it depends on; siblings run
   in ``Parallel``; mutation root fields run in document order, each with its
   follow-ups.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSkipDirective,
    GraphQLString,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    is_leaf_type,
    parse,
    print_ast,
)
from graphql.execution.values import get_directive_values
from graphql.language import Visitor, visit
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from gateway.caching import DEFAULT_CACHE_BYTES, LRU
from gateway.errors import PlanningError
from gateway.operation import AST_BYTES_PER_CHAR, Operation, document_hash
from gateway.plan import (
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    QueryPlan,
    RepresentationField,
    Sequence,
    ShapeField,
    ShapeSelection,
    Subscription,
)
from gateway.supergraph import Key, Supergraph, TypeDef

__all__ = ["CachingQueryPlanner", "QueryPlanner"]

_TYPENAME = "__typename"
_INTROSPECTION = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
_TYPENAME_TYPE: GraphQLOutputType = GraphQLNonNull(GraphQLString)


# -- subgraph selections under construction --------------------------------------------


class _SelField:
    __slots__ = ("alias", "arguments", "name", "selection")

    def __init__(
        self, name: str, alias: str | None, arguments: str, selection: _Sel | None
    ) -> None:
        self.name = name
        self.alias = alias
        self.arguments = arguments
        self.selection = selection


class _Sel:
    """A subgraph selection set being built: fields by response key, then inline
    fragments by type condition."""

    __slots__ = ("fields", "fragments")

    def __init__(self) -> None:
        self.fields: dict[str, _SelField] = {}
        self.fragments: dict[str, _Sel] = {}

    def field(
        self, key: str, name: str, arguments: str = "", composite: bool = False
    ) -> _Sel | None:
        existing = self.fields.get(key)
        if existing is not None:
            if existing.name != name or existing.arguments != arguments:
                raise PlanningError(
                    f"response key {key!r} selects both {existing.name!r} and {name!r}"
                )
            if composite and existing.selection is None:
                existing.selection = _Sel()
            return existing.selection
        selection = _Sel() if composite else None
        alias = key if key != name else None
        self.fields[key] = _SelField(name, alias, arguments, selection)
        return selection

    def fragment(self, type_name: str) -> _Sel:
        selection = self.fragments.get(type_name)
        if selection is None:
            selection = self.fragments[type_name] = _Sel()
        return selection

    def add_selection_set(self, node: SelectionSetNode) -> None:
        """Add a field set (a key or ``@requires``) with plain, unaliased fields."""
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                sub = self.field(
                    selection.name.value,
                    selection.name.value,
                    composite=selection.selection_set is not None,
                )
                if sub is not None and selection.selection_set is not None:
                    sub.add_selection_set(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    self.fragment(selection.type_condition.name.value)
                    if selection.type_condition is not None
                    else self
                )
                target.add_selection_set(selection.selection_set)

    def render(self) -> str:
        parts: list[str] = []
        for key, f in self.fields.items():
            text = f"{f.alias}: {f.name}" if f.alias else key
            text += f.arguments
            if f.selection is not None:
                text += " " + (
                    f.selection.render() if f.selection else "{ __typename }"
                )
            parts.append(text)
        for type_name, selection in self.fragments.items():
            if selection:
                parts.append(f"... on {type_name} {selection.render()}")
        return "{ " + " ".join(parts) + " }"

    def __bool__(self) -> bool:
        return bool(self.fields) or any(self.fragments.values())

    def representation(self) -> tuple[RepresentationField, ...]:
        fields = []
        for f in self.fields.values():
            sub = f.selection.representation() if f.selection is not None else None
            fields.append(RepresentationField(f.name, sub))
        return tuple(fields)


class _Group:
    """One subgraph operation being built."""

    __slots__ = (
        "children",
        "deps",
        "entity",
        "index",
        "path",
        "representations",
        "selection",
        "subgraph",
        "typename_as",
        "variables",
    )

    def __init__(
        self, index: int, subgraph: str, path: tuple[str, ...], entity: bool
    ) -> None:
        self.index = index
        self.subgraph = subgraph
        self.path = path
        self.entity = entity
        self.selection = _Sel()
        self.representations: dict[str, _Sel] = {}
        self.variables: set[str] = set()
        self.typename_as: dict[str, str] = {}
        """Object type -> the ``@interfaceObject`` type name to send instead."""
        self.deps: list[_Group] = []
        self.children: dict[tuple[str, tuple[str, ...]], _Group] = {}


class _VariableNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _list_depth(type_: GraphQLOutputType) -> int:
    depth = 0
    while True:
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        elif isinstance(type_, GraphQLList):
            depth += 1
            type_ = type_.of_type
        else:
            return depth


def _field_names(node: SelectionSetNode | None, type_name: str) -> dict[str, FieldNode]:
    """The fields a field set (``@provides``) names for ``type_name``."""
    found: dict[str, FieldNode] = {}
    if node is None:
        return found
    for selection in node.selections:
        if isinstance(selection, FieldNode):
            found[selection.name.value] = selection
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value == type_name:
                found.update(_field_names(selection.selection_set, type_name))
    return found


def _plain(shape: ShapeSelection) -> bool:
    """No abstract types, internal aliases or local fields anywhere in ``shape``."""
    if shape.abstract:
        return False
    for field in shape.fields_by_type[shape.type_name]:
        if field.local or field.data_key != field.response_key:
            return False
        if field.selection is not None and not _plain(field.selection):
            return False
    return True


# -- the planner -----------------------------------------------------------------------


class QueryPlanner:
    """Plans operations against one ``Supergraph``. Stateless; see
    ``CachingQueryPlanner`` for the cached version the engine uses."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.supergraph = supergraph
        self.plan_count = 0
        """Plans built so far."""

    def plan(
        self, operation: Operation, variables: Mapping[str, Any] | None = None
    ) -> QueryPlan:
        """Plan ``operation``; ``variables`` (coerced) decide ``@skip``/``@include``."""
        self.plan_count += 1
        return _PlanBuilder(self.supergraph, operation, variables or {}).build()


class _PlanBuilder:
    def __init__(
        self, supergraph: Supergraph, operation: Operation, variables: Mapping[str, Any]
    ) -> None:
        self.supergraph = supergraph
        self.schema = supergraph.schema
        self.operation = operation
        self.variables = dict(variables)
        self.groups: list[_Group] = []
        self._injectable_cache: dict[str, frozenset[str]] = {}

    # -- 1. normalise the client selection --------------------------------------------

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

    def _applies(self, condition: str | None, obj: GraphQLObjectType) -> bool:
        if condition is None or condition == obj.name:
            return True
        cond_type = self.schema.get_type(condition)
        if isinstance(cond_type, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.schema.is_sub_type(cond_type, obj)
        return False

    def _collect(
        self,
        obj: GraphQLObjectType,
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
        return ShapeSelection(
            type_name=parent.name,
            fields_by_type=by_type,
            abstract=is_abstract_type(parent),
        )

    def _shape_field(
        self, obj: GraphQLObjectType, key: str, nodes: list[FieldNode], root: bool
    ) -> ShapeField:
        node = nodes[0]
        name = node.name.value
        if name == _TYPENAME:
            return ShapeField(key, key, name, _TYPENAME_TYPE, obj.name, node=node)
        if root and name in _INTROSPECTION:
            meta = _INTROSPECTION[name]
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
        )

    def _injectable(self, type_name: str) -> frozenset[str]:
        """Fields of ``type_name`` the gateway may select itself: keys, ``@requires``."""
        found = self._injectable_cache.get(type_name)
        if found is None:
            names: set[str] = set()
            typedef = self.supergraph.types.get(type_name)
            if typedef is not None:
                for key in typedef.keys:
                    names.update(_field_names(key.selection, type_name))
                for field in typedef.fields.values():
                    for source in field.sources:
                        if source.requires is not None:
                            names.update(_field_names(source.requires, type_name))
            found = self._injectable_cache[type_name] = frozenset(names)
        return found

    # -- 2. walk the shape with fetch groups ----------------------------------------

    def _new_group(self, subgraph: str, path: tuple[str, ...], entity: bool) -> _Group:
        group = _Group(len(self.groups), subgraph, path, entity)
        self.groups.append(group)
        return group

    def _has_type(self, subgraph: str, type_name: str) -> bool:
        info = self.supergraph.subgraphs.get(subgraph)
        return info is not None and info.schema.get_type(type_name) is not None

    def _resolvable(
        self,
        subgraph: str,
        type_name: str,
        field_name: str,
        provided: SelectionSetNode | None,
    ) -> bool:
        field = self.supergraph.field(type_name, field_name)
        if field is None:
            return False
        if any(source.subgraph == subgraph for source in field.sources):
            return True
        if provided is not None and field_name in _field_names(provided, type_name):
            return True
        typedef = self.supergraph.types.get(type_name)
        if typedef is not None and subgraph not in field.external_in:
            return False
        if typedef is not None:
            # Fed 1: an @external key field is echoed back from the representation.
            for key in typedef.keys:
                if key.subgraph == subgraph and field_name in _field_names(
                    key.selection, type_name
                ):
                    return True
        return False

    def _usable_key(
        self,
        from_subgraph: str,
        type_name: str,
        to_subgraph: str,
        provided: SelectionSetNode | None,
    ) -> Key | None:
        typedef = self.supergraph.types.get(type_name)
        if typedef is None:
            return None
        for key in typedef.resolvable_keys(to_subgraph):
            if all(
                self._resolvable(from_subgraph, type_name, name, provided)
                for name in _field_names(key.selection, type_name)
            ):
                return key
        return None

    def _entry(
        self,
        from_subgraph: str,
        type_name: str,
        to_subgraph: str,
        provided: SelectionSetNode | None,
    ) -> tuple[Key, str] | None:
        """A key to enter ``to_subgraph`` at ``type_name`` from ``from_subgraph``, and
        the ``__typename`` to send: the type's own, or the interface it implements
        that ``to_subgraph`` declares as an ``@interfaceObject``."""
        key = self._usable_key(from_subgraph, type_name, to_subgraph, provided)
        if key is not None:
            return key, type_name
        obj = self.schema.get_type(type_name)
        for interface in getattr(obj, "interfaces", ()):
            typedef = self.supergraph.types.get(interface.name)
            if typedef is None or to_subgraph not in typedef.interface_object_in:
                continue
            for key in typedef.resolvable_keys(to_subgraph):
                if all(
                    self._resolvable(from_subgraph, type_name, name, provided)
                    for name in _field_names(key.selection, type_name)
                ):
                    return key, interface.name
        return None

    def _entity_group(
        self,
        parent: _Group,
        parent_selection: _Sel,
        type_name: str,
        path: tuple[str, ...],
        subgraph: str,
        key: Key,
        entity_type: str | None = None,
    ) -> _Group:
        child = parent.children.get((subgraph, path))
        if child is None:
            child = self._new_group(subgraph, path, entity=True)
            child.deps.append(parent)
            parent.children[(subgraph, path)] = child
        if entity_type is not None and entity_type != type_name:
            child.typename_as[type_name] = entity_type
        representation = child.representations.get(type_name)
        if representation is None:
            representation = child.representations[type_name] = _Sel()
            representation.field(_TYPENAME, _TYPENAME)
        representation.add_selection_set(key.selection)
        parent_selection.field(_TYPENAME, _TYPENAME)
        parent_selection.add_selection_set(key.selection)
        return child

    def _jump(
        self,
        group: _Group,
        selection: _Sel,
        type_name: str,
        path: tuple[str, ...],
        field_name: str,
        provided: SelectionSetNode | None,
        visited: frozenset[str],
    ) -> tuple[_Group, _Sel] | None:
        """Route ``field_name`` of the entity at ``path`` to another subgraph."""
        field = self.supergraph.field(type_name, field_name)
        if field is None:
            return None
        candidates = [s.subgraph for s in field.sources if s.subgraph not in visited]
        candidates.sort(key=lambda s: group.children.get((s, path)) is None)
        for target in candidates:
            entry = self._entry(group.subgraph, type_name, target, provided)
            if entry is None:
                continue
            key, entity_type = entry
            child = self._entity_group(
                group, selection, type_name, path, target, key, entity_type
            )
            source = field.source(target)
            if source is not None and source.requires is not None:
                self._add_requires(
                    group, selection, type_name, path, source.requires, child, provided
                )
                child.representations[type_name].add_selection_set(source.requires)
            return child, child.selection.fragment(entity_type)
        # No direct way in: hop through a subgraph that can take us there.
        typedef = self.supergraph.types.get(type_name)
        if typedef is None:
            return None
        for key in typedef.keys:
            middle = key.subgraph
            if middle in visited or middle in candidates or not key.resolvable:
                continue
            if self._usable_key(group.subgraph, type_name, middle, provided) is None:
                continue
            if not any(
                self._usable_key(middle, type_name, c, None) for c in candidates
            ):
                continue
            hop = self._entity_group(group, selection, type_name, path, middle, key)
            found = self._jump(
                hop,
                hop.selection.fragment(type_name),
                type_name,
                path,
                field_name,
                None,
                visited | {group.subgraph, middle},
            )
            if found is not None:
                return found
        return None

    def _add_requires(
        self,
        group: _Group,
        selection: _Sel,
        type_name: str,
        path: tuple[str, ...],
        requires: SelectionSetNode,
        child: _Group,
        provided: SelectionSetNode | None,
    ) -> None:
        """Fetch the ``@requires`` fields into the objects at ``path`` before
        ``child`` runs, from wherever they resolve."""
        for name, node in _field_names(requires, type_name).items():
            if self._resolvable(group.subgraph, type_name, name, provided):
                owner, target = group, selection
            else:
                found = self._jump(
                    group,
                    selection,
                    type_name,
                    path,
                    name,
                    provided,
                    frozenset({group.subgraph, child.subgraph}),
                )
                if found is None:
                    raise PlanningError(
                        f"no subgraph can provide {type_name}.{name} "
                        f"required by {child.subgraph!r}"
                    )
                owner, target = found
                if owner is not child and owner not in child.deps:
                    child.deps.append(owner)
            sub = target.field(name, name, composite=node.selection_set is not None)
            if sub is not None and node.selection_set is not None:
                sub.add_selection_set(node.selection_set)

    def _note_variables(self, group: _Group, node: FieldNode | None) -> None:
        if node is None or not node.arguments:
            return
        finder = _VariableNames()
        for argument in node.arguments:
            visit(argument, finder)
        group.variables |= finder.names

    def _plan_field(
        self,
        group: _Group,
        selection: _Sel,
        type_name: str,
        field: ShapeField,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
    ) -> None:
        if field.local:
            return
        if field.name == _TYPENAME:
            selection.field(_TYPENAME, _TYPENAME)
            return
        if not self._resolvable(group.subgraph, type_name, field.name, provided):
            found = self._jump(
                group,
                selection,
                type_name,
                path,
                field.name,
                provided,
                frozenset({group.subgraph}),
            )
            if found is None:
                raise PlanningError(
                    f"cannot plan {type_name}.{field.name} from subgraph "
                    f"{group.subgraph!r}: no subgraph resolving it can be entered"
                )
            group, selection = found
            provided = None
        self._add_field(group, selection, type_name, field, path, provided)

    def _add_field(
        self,
        group: _Group,
        selection: _Sel,
        type_name: str,
        field: ShapeField,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
    ) -> None:
        node = field.node
        arguments = ""
        if node is not None and node.arguments:
            arguments = "(" + ", ".join(print_ast(a) for a in node.arguments) + ")"
            self._note_variables(group, node)
        sub = selection.field(
            field.data_key, field.name, arguments, composite=field.selection is not None
        )
        if field.selection is None or sub is None:
            return
        definition = self.supergraph.field(type_name, field.name)
        source = definition.source(group.subgraph) if definition else None
        if source is not None and source.provides is not None:
            nested: SelectionSetNode | None = source.provides
        else:
            provided_field = _field_names(provided, type_name).get(field.name)
            nested = provided_field.selection_set if provided_field else None
        child_path = path + (field.data_key,) + ("@",) * _list_depth(field.type)
        self._plan_shape(group, sub, field.selection, child_path, nested)

    def _plan_shape(
        self,
        group: _Group,
        selection: _Sel,
        shape: ShapeSelection,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
    ) -> None:
        if not shape.abstract:
            for field in shape.fields_by_type[shape.type_name]:
                self._plan_field(
                    group, selection, shape.type_name, field, path, provided
                )
            return
        selection.field(_TYPENAME, _TYPENAME)
        typedef = self.supergraph.types.get(shape.type_name)
        if typedef is not None and group.subgraph in typedef.interface_object_in:
            self._plan_interface_object(group, selection, shape, path, typedef)
            return
        for type_name, fields in shape.fields_by_type.items():
            if not fields or not self._has_type(group.subgraph, type_name):
                continue
            fragment = selection.fragment(type_name)
            for field in fields:
                self._plan_field(group, fragment, type_name, field, path, provided)

    def _plan_interface_object(
        self,
        group: _Group,
        selection: _Sel,
        shape: ShapeSelection,
        path: tuple[str, ...],
        typedef: TypeDef,
    ) -> None:
        """The subgraph sees the interface as an ``@interfaceObject`` type: its
        objects come back as ``__typename: "<Interface>"``. A subgraph that defines
        the interface with its implementations is asked for the real ``__typename``
        (and the implementations' own fields) through ``_entities``."""
        interface = shape.type_name
        entry = next(
            (
                key
                for key in typedef.keys
                if key.resolvable and key.subgraph not in typedef.interface_object_in
            ),
            None,
        )
        if entry is None:
            raise PlanningError(
                f"no subgraph defines the implementations of {interface} with a key"
            )
        child = self._entity_group(
            group, selection, interface, path, entry.subgraph, entry
        )
        child.selection.fragment(interface).field(_TYPENAME, _TYPENAME)
        for type_name, fields in shape.fields_by_type.items():
            for field in fields:
                if field.name == _TYPENAME:
                    continue
                if self._resolvable(group.subgraph, type_name, field.name, None):
                    self._add_field(group, selection, type_name, field, path, None)
                else:
                    self._plan_field(
                        child,
                        child.selection.fragment(type_name),
                        type_name,
                        field,
                        path,
                        None,
                    )

    # -- 3. groups -> plan nodes ------------------------------------------------------

    def _root_groups(self, shape: ShapeSelection) -> list[_Group]:
        root_name = shape.type_name
        roots: list[_Group] = []
        by_subgraph: dict[str, _Group] = {}
        for field in shape.fields_by_type[root_name]:
            if field.local or field.name == _TYPENAME:
                continue
            definition = self.supergraph.field(root_name, field.name)
            if definition is None or not definition.sources:
                raise PlanningError(f"no subgraph resolves {root_name}.{field.name}")
            sources = [s.subgraph for s in definition.sources]
            if self.operation.kind == "mutation":
                group = self._new_group(sources[0], (), entity=False)
                roots.append(group)
            else:
                chosen = next((s for s in sources if s in by_subgraph), sources[0])
                existing = by_subgraph.get(chosen)
                if existing is None:
                    existing = by_subgraph[chosen] = self._new_group(chosen, (), False)
                    roots.append(existing)
                group = existing
            self._add_field(group, group.selection, root_name, field, (), None)
        return roots

    def _fetch(self, group: _Group, number: int) -> Fetch:
        definition = self.operation.definition
        used = [
            d
            for d in definition.variable_definitions
            if d.variable.name.value in group.variables
        ]
        variable_defs = [print_ast(d) for d in used]
        if group.entity:
            kind = "query"
            variable_defs.insert(0, "$representations: [_Any!]!")
            fragments = "".join(
                f" ... on {t} {s.render()}"
                for t, s in group.selection.fragments.items()
                if s
            )
            body = (
                "{ _entities(representations: $representations) {" + fragments + " } }"
            )
        else:
            kind = self.operation.kind
            body = group.selection.render()
        name = None
        if self.operation.name:
            service = re.sub(r"[^_0-9A-Za-z]", "_", group.subgraph)
            name = f"{self.operation.name}__{service}__{number}"
        header = kind
        if name:
            header += f" {name}"
        if variable_defs:
            header += "(" + ", ".join(variable_defs) + ")"
        text = f"{header} {body}"
        document = parse(text, no_location=True)
        requires = None
        representation: dict[str, tuple[RepresentationField, ...]] = {}
        if group.entity:
            # As sent: an @interfaceObject subgraph sees the interface's name.
            shown: dict[str, str] = {}
            for t, s in group.representations.items():
                shown.setdefault(group.typename_as.get(t, t), s.render())
            reps = " ".join(f"... on {t} {text}" for t, text in shown.items())
            rep_doc = parse("{ " + reps + " }", no_location=True)
            rep_def = rep_doc.definitions[0]
            assert isinstance(rep_def, OperationDefinitionNode)
            requires = rep_def.selection_set
            for t, s in group.representations.items():
                fields = s.representation()
                if t in group.typename_as:
                    fields = tuple(
                        RepresentationField(f.name, value=group.typename_as[t])
                        if f.name == _TYPENAME
                        else f
                        for f in fields
                    )
                representation[t] = fields
        return Fetch(
            subgraph=group.subgraph,
            operation=text,
            document=document,
            operation_kind=kind,  # type: ignore[arg-type]
            operation_name=name,
            variable_usages=tuple(d.variable.name.value for d in used),
            path=group.path,
            requires=requires,
            representation=representation,
        )

    def _nodes(self, roots: list[_Group]) -> list[PlanNode]:
        fetches = {g.index: self._fetch(g, g.index) for g in self.groups}
        depth: dict[int, int] = {}

        def depth_of(group: _Group) -> int:
            found = depth.get(group.index)
            if found is None:
                found = depth[group.index] = 1 + max(
                    (depth_of(d) for d in group.deps), default=-1
                )
            return found

        for group in self.groups:
            depth_of(group)
        anchor: dict[int, _Group] = {}
        tree: dict[int, list[_Group]] = {g.index: [] for g in self.groups}
        for group in self.groups:
            if not group.deps:
                continue
            latest = max(group.deps, key=lambda d: depth[d.index])
            anchor[group.index] = latest
            tree[latest.index].append(group)
        for group in self.groups:
            for dep in group.deps:
                ancestor: _Group | None = anchor.get(group.index)
                while ancestor is not None and ancestor is not dep:
                    ancestor = anchor.get(ancestor.index)
                if ancestor is None:
                    return self._layered(fetches, depth)

        def node(group: _Group) -> PlanNode:
            fetch = fetches[group.index]
            own: PlanNode = Flatten(group.path, fetch) if group.entity else fetch
            children = [node(child) for child in tree[group.index]]
            if not children:
                return own
            after = children[0] if len(children) == 1 else Parallel(tuple(children))
            if isinstance(after, Sequence):
                return Sequence((own, *after.nodes))
            return Sequence((own, after))

        return [node(root) for root in roots]

    def _layered(
        self, fetches: dict[int, Fetch], depth: dict[int, int]
    ) -> list[PlanNode]:
        stages: list[PlanNode] = []
        for level in range(max(depth.values()) + 1):
            nodes: list[PlanNode] = []
            for group in self.groups:
                if depth[group.index] == level:
                    fetch = fetches[group.index]
                    nodes.append(Flatten(group.path, fetch) if group.entity else fetch)
            stages.append(nodes[0] if len(nodes) == 1 else Parallel(tuple(nodes)))
        return [Sequence(tuple(stages))]

    def _introspection(self, shape: ShapeSelection) -> DocumentNode | None:
        fields = shape.fields_by_type[shape.type_name]
        if not any(f.local for f in fields):
            return None
        definition = self.operation.definition
        keep = [
            s
            for s in definition.selection_set.selections
            if not isinstance(s, FieldNode) or s.name.value in _INTROSPECTION
        ]
        reduced = OperationDefinitionNode(
            operation=definition.operation,
            name=definition.name,
            variable_definitions=definition.variable_definitions,
            directives=definition.directives,
            selection_set=SelectionSetNode(selections=tuple(keep)),
        )
        others = [d for d in self.operation.document.definitions if d is not definition]
        return DocumentNode(definitions=(reduced, *others))

    def build(self) -> QueryPlan:
        kind = self.operation.kind
        root_type = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }[kind]
        if root_type is None:
            raise PlanningError(f"the schema has no {kind} type")
        shape = self._shape(root_type, [self.operation.definition.selection_set], True)
        roots = self._root_groups(shape)
        nodes = self._nodes(roots) if roots else []
        plan_node: PlanNode | None
        if not nodes:
            plan_node = None
        elif kind == "subscription":
            tree = nodes[0]
            head = tree.nodes[0] if isinstance(tree, Sequence) else tree
            if not isinstance(head, Fetch) or len(nodes) != 1:
                raise PlanningError("a subscription must have one root field")
            after: PlanNode | None = None
            if isinstance(tree, Sequence):
                rest = tree.nodes[1:]
                after = rest[0] if len(rest) == 1 else Sequence(rest)
            plan_node = Subscription(head, after)
        elif len(nodes) == 1:
            plan_node = nodes[0]
        elif kind == "mutation":
            plan_node = Sequence(tuple(nodes))
        else:
            plan_node = Parallel(tuple(nodes))
        introspection = self._introspection(shape)
        return QueryPlan(
            kind=kind,
            node=plan_node,
            shape=shape,
            introspection=introspection,
            passthrough=isinstance(plan_node, Fetch)
            and introspection is None
            and all(f.name != _TYPENAME for f in shape.fields_by_type[shape.type_name])
            and _plain(shape),
        )


# -- caching ---------------------------------------------------------------------------


_PlanKey = tuple[str, bytes, "str | None", tuple[Any, ...]]

PLAN_BYTES_PER_CHAR = 2 * AST_BYTES_PER_CHAR
"""A plan's estimated size per character of its operation: the response shape and
the subgraph documents are each about the size of the client's parsed document."""


@dataclass(frozen=True, slots=True)
class _PlanFailure:
    """A planning error, as the payload of the error to raise afresh (a cached
    exception would keep its traceback and the frames of the request that raised
    it alive)."""

    message: str
    code: str

    def error(self) -> PlanningError:
        return PlanningError(self.message, code=self.code)


class CachingQueryPlanner:
    """``QueryPlanner`` with an LRU of plans keyed by (supergraph hash, document hash,
    operation name, ``@skip``/``@include`` variable values), bounded by entries and
    by estimated bytes. Concurrent misses for the same key (from threads) wait for
    one shared future instead of planning twice."""

    def __init__(
        self,
        supergraph: Supergraph,
        maxsize: int = 1024,
        *,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.planner = QueryPlanner(supergraph)
        self.supergraph = supergraph
        self._plans: LRU[_PlanKey, QueryPlan | _PlanFailure] = LRU(maxsize, max_bytes)
        self._pending: dict[
            _PlanKey, concurrent.futures.Future[QueryPlan | _PlanFailure]
        ] = {}
        self._lock = threading.Lock()

    @property
    def maxsize(self) -> int:
        return self._plans.maxsize

    @property
    def entries(self) -> LRU[_PlanKey, QueryPlan | _PlanFailure]:
        """The cache itself (sizes and counters, for tests and metrics)."""
        return self._plans

    @property
    def plan_count(self) -> int:
        return self.planner.plan_count

    def key(self, operation: Operation, variables: Mapping[str, Any]) -> _PlanKey:
        conditions = tuple(variables.get(n) for n in operation.condition_variables)
        digest = operation.hash or document_hash(operation.query)
        return (self.supergraph.hash, digest, operation.name, conditions)

    def plan(
        self, operation: Operation, variables: Mapping[str, Any] | None = None
    ) -> QueryPlan:
        """The cached plan; a ``PlanningError`` is cached (as its payload) too."""
        variables = variables or {}
        key = self.key(operation, variables)
        with self._lock:
            entry = self._plans.get(key)
        if entry is None:
            entry = self._miss(key, operation, variables)
        if isinstance(entry, _PlanFailure):
            raise entry.error()
        return entry

    def _miss(
        self, key: _PlanKey, operation: Operation, variables: Mapping[str, Any]
    ) -> QueryPlan | _PlanFailure:
        with self._lock:
            entry = self._plans.get(key)
            if entry is not None:
                return entry
            future = self._pending.get(key)
            owner = future is None
            if future is None:
                future = self._pending[key] = concurrent.futures.Future()
        if not owner:
            return future.result()
        try:
            entry = self.planner.plan(operation, variables)
        except PlanningError as exc:
            entry = _PlanFailure(exc.message, exc.code)
        except BaseException as exc:
            future.set_exception(exc)
            with self._lock:
                self._pending.pop(key, None)
            raise
        nbytes = (
            512 + 2 * len(entry.message)
            if isinstance(entry, _PlanFailure)
            else 512 + PLAN_BYTES_PER_CHAR * len(operation.query)
        )
        with self._lock:
            self._plans.put(key, entry, nbytes)
            self._pending.pop(key, None)
        future.set_result(entry)
        return entry
