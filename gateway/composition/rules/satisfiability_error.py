"""SATISFIABILITY_ERROR: every field of the client schema can be reached by a query
from every place a query can lead.

The check walks the graph the planner will walk: a state is an object type in one
subgraph (with what a ``@provides`` above it adds); a query at some place can be at
any of a set of such states (a ``@shareable`` field leads to each subgraph that
resolves it), as in Apollo's simultaneous paths. From the root fields, every set a
query can reach is visited once; in each, every accessible field of the type must be
resolvable from at least one of its states, directly (the subgraph resolves it, its ``@requires`` can be
met) or after entity jumps through resolvable ``@key``s whose fields the subgraph
being left can supply itself or through other subgraphs, never through the one
being entered (Apollo's rule: ``complex_key`` is refused, ``requires`` accepted).
A failure names the query that cannot be answered and why, in Apollo's words.

Where the graph uses a feature the walk does not model precisely
(``@interfaceObject`` states), it errs on the side of accepting: the planner then
reports a planning error at request time.

See https://www.apollographql.com/docs/graphos/reference/federation/errors#satisfiability_error
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    FieldNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    InlineFragmentNode,
    ListTypeNode,
    NonNullTypeNode,
    SelectionSetNode,
    TypeNode,
)

from gateway.composition.context import CompositionContext
from gateway.composition.merged import MergedField, MergedType
from gateway.composition.spec import ROOT_OPERATIONS
from gateway.composition.syntax import named_type_node, print_field_set
from gateway.supergraph import FieldSource, Key, TypeKind

__all__ = ["satisfiability_error"]

_MAX_STATES = 20_000
"""A bound on the walk for pathological graphs; past it the rest is accepted."""


@dataclass(frozen=True, slots=True)
class _State:
    type_name: str
    subgraph: str
    provided: SelectionSetNode | None
    """The ``@provides`` selection that applies to this object, if any."""
    entered: bool = False
    """Reached through an entity jump: the key's fields came in the
    representation."""


@dataclass(frozen=True, slots=True)
class _Step:
    """One step of a query path: a field, or a type condition (``... on T``)."""

    field: str | None = None
    type_condition: str | None = None
    arguments: str = ""
    """``(id: "<any id>")``: a placeholder for each argument, so the printed query
    is one a client could send."""


def satisfiability_error(context: CompositionContext) -> None:
    _Walk(context).run()


class _Walk:
    def __init__(self, context: CompositionContext) -> None:
        self.context = context
        self.merged = context.merged
        self.schemas = {s.name: s.schema for s in context.subgraphs}
        self.seen: set[frozenset[_State]] = set()
        self.reported: set[str] = set()
        self.queue: list[tuple[frozenset[_State], tuple[_Step, ...], str]] = []
        self.memo: dict[
            tuple[int, _State, frozenset[str], frozenset[tuple[str, str]]], bool
        ] = {}

    # --- the walk ---------------------------------------------------------------

    def run(self) -> None:
        for operation, root in ROOT_OPERATIONS.items():
            root_type = self.merged.get(root)
            if root_type is None:
                continue
            for field in root_type.fields.values():
                if field.inaccessible:
                    continue
                ways = [(s.subgraph, s, s.provides) for s in field.sources]
                step = _Step(field=field.name, arguments=self._arguments(field))
                self._enter(ways, (step,), operation)
        while self.queue and len(self.seen) < _MAX_STATES:
            alternatives, path, operation = self.queue.pop(0)
            self._check(alternatives, path, operation)

    def _enter(
        self,
        ways: list[tuple[str, FieldSource, SelectionSetNode | None]],
        path: tuple[_Step, ...],
        operation: str,
    ) -> None:
        """Queue what a field's value leads to: per object type it can be, the set
        of (subgraph, provided) alternatives a query can continue from."""
        by_object: dict[str, set[_State]] = {}
        conditions: dict[str, _Step | None] = {}
        for subgraph, source, provided in ways:
            if not source.type:
                continue
            type_name = _named(source.type)
            for object_name, condition, narrowed in self._objects(
                type_name, subgraph, provided
            ):
                by_object.setdefault(object_name, set()).add(
                    _State(object_name, subgraph, narrowed)
                )
                conditions.setdefault(object_name, condition)
        for object_name, states in by_object.items():
            alternatives = frozenset(states)
            if alternatives in self.seen:
                continue
            self.seen.add(alternatives)
            condition = conditions[object_name]
            step_path = path if condition is None else (*path, condition)
            self.queue.append((alternatives, step_path, operation))

    def _objects(
        self, type_name: str, subgraph: str, provided: SelectionSetNode | None
    ) -> Iterator[tuple[str, _Step | None, SelectionSetNode | None]]:
        """The object types a value of ``type_name`` can be in ``subgraph``."""
        named = self.schemas[subgraph].get_type(type_name)
        merged_type = self.merged.get(type_name)
        if merged_type is None or merged_type.inaccessible:
            return
        if isinstance(named, GraphQLObjectType):
            if merged_type.kind is TypeKind.OBJECT:
                yield type_name, None, provided
            # An @interfaceObject: its implementations are not known here.
            return
        if isinstance(named, GraphQLUnionType):
            members = list(named.types)
        elif isinstance(named, GraphQLInterfaceType):
            members = list(self.schemas[subgraph].get_possible_types(named))
        else:
            return
        for member in members:
            member_type = self.merged.get(member.name)
            if member_type is None or member_type.inaccessible:
                continue
            yield (
                member.name,
                _Step(type_condition=member.name),
                _narrow(provided, member.name),
            )

    def _check(
        self,
        alternatives: frozenset[_State],
        path: tuple[_Step, ...],
        operation: str,
    ) -> None:
        """Every accessible field of the type must be resolvable from at least one
        of the alternatives a query can be at."""
        ordered = sorted(alternatives, key=lambda s: s.subgraph)
        type_name = ordered[0].type_name
        merged_type = self.merged[type_name]
        for field in merged_type.fields.values():
            if field.inaccessible or field.type is None:
                continue
            coordinate = f"{type_name}.{field.name}"
            step = _Step(field=field.name, arguments=self._arguments(field))
            field_path = (*path, step)
            ways: list[tuple[str, FieldSource, SelectionSetNode | None]] = []
            failures: list[tuple[str, list[str]]] = []
            for state in ordered:
                found, reasons = self._resolve(merged_type, field.name, state)
                ways += found
                if not found:
                    failures.append((state.subgraph, reasons))
            if not ways:
                if coordinate not in self.reported:
                    self.reported.add(coordinate)
                    self._report(
                        operation,
                        field_path,
                        failures,
                        composite_leaf=not _is_leaf(self.merged, field.type),
                    )
                continue
            self._enter(ways, field_path, operation)

    # --- resolving one field from one state -------------------------------------

    def _resolve(
        self, merged_type: MergedType, field_name: str, state: _State
    ) -> tuple[list[tuple[str, FieldSource, SelectionSetNode | None]], list[str]]:
        """Every way the field can be resolved from ``state`` (directly, through
        the ``@provides`` above it, or after entity jumps), or the reasons none can."""
        ways: list[tuple[str, FieldSource, SelectionSetNode | None]] = []
        reasons: list[str] = []
        field = merged_type.fields[field_name]
        provided = _provided_field(state.provided, field_name)
        if provided is not None and state.subgraph in field.external_in:
            own_type = self._own_type(state.type_name, field_name, state.subgraph)
            ways.append(
                (
                    state.subgraph,
                    FieldSource(state.subgraph, type=own_type),
                    provided.selection_set,
                )
            )
        direct = field.source(state.subgraph)
        if direct is not None and self._requires_met(direct, state):
            ways.append((state.subgraph, direct, direct.provides))
        elif direct is None and state.subgraph in field.external_in:
            reasons.append(
                f'field "{state.type_name}.{field_name}" is not resolvable because '
                "marked @external."
            )
        elif direct is None:
            reasons.append(f'cannot find field "{state.type_name}.{field_name}".')
        else:
            reasons.append(
                f'cannot satisfy @requires conditions on field "{state.type_name}.'
                f'{field_name}".'
            )
        # Entity jumps, possibly chained, never back to a subgraph already visited.
        frontier: list[tuple[_State, frozenset[str]]] = [
            (state, frozenset({state.subgraph}))
        ]
        reached: set[str] = set()
        while frontier:
            current, visited = frontier.pop(0)
            for target, key in self._keys_into(state.type_name, visited):
                if target in reached:
                    continue
                if not self._can_resolve(
                    key.selection, current, visited | {target}, depth=0
                ):
                    if current.subgraph == state.subgraph:
                        reasons.append(
                            f'cannot move to subgraph "{target}" using @key(fields: '
                            f'"{print_field_set(key.selection)}") of '
                            f'"{state.type_name}", the key field(s) cannot be '
                            f'resolved from subgraph "{current.subgraph}".'
                        )
                    continue
                reached.add(target)
                entered = _State(state.type_name, target, None, entered=True)
                source = field.source(target)
                if source is not None and self._requires_met(source, entered):
                    ways.append((target, source, source.provides))
                frontier.append((entered, visited | {target}))
        return ways, reasons

    def _keys_into(
        self, type_name: str, visited: frozenset[str]
    ) -> Iterator[tuple[str, Key]]:
        """Resolvable keys through which another subgraph can be entered for an
        object of ``type_name``: its own keys, or those of an interface the
        subgraph declares as an ``@interfaceObject``."""
        merged_type = self.merged[type_name]
        for occurrence in merged_type.occurrences:
            if occurrence.subgraph.name in visited:
                continue
            for key in occurrence.keys:
                if key.resolvable:
                    yield occurrence.subgraph.name, key
        for interface in merged_type.interfaces:
            interface_type = self.merged.get(interface)
            if interface_type is None:
                continue
            for occurrence in interface_type.occurrences:
                if occurrence.interface_object and occurrence.subgraph.name not in (
                    visited
                ):
                    for key in occurrence.keys:
                        if key.resolvable:
                            yield occurrence.subgraph.name, key

    def _key_field_names(self, state: _State) -> set[str]:
        """Top-level fields of the keys ``state``'s subgraph declares for its type
        (or for an interface it declares as an ``@interfaceObject``)."""
        merged_type = self.merged[state.type_name]
        names: set[str] = set()
        types = [merged_type] + [
            self.merged[i] for i in merged_type.interfaces if i in self.merged
        ]
        for candidate in types:
            for occurrence in candidate.occurrences:
                if occurrence.subgraph.name != state.subgraph:
                    continue
                if candidate is not merged_type and not occurrence.interface_object:
                    continue
                for key in occurrence.keys:
                    names.update(
                        n.name.value
                        for n in key.selection.selections
                        if isinstance(n, FieldNode)
                    )
        return names

    def _requires_met(self, source: FieldSource, state: _State) -> bool:
        if source.requires is None:
            return True
        return self._can_resolve(
            source.requires, state, frozenset({state.subgraph}), depth=0
        )

    def _can_resolve(
        self,
        selection: SelectionSetNode,
        state: _State,
        visited: frozenset[str],
        depth: int,
        pending: frozenset[tuple[str, str]] = frozenset(),
    ) -> bool:
        """Whether a key or ``@requires`` selection can be fetched for an object
        in ``state``: from its subgraph, or through entity jumps to subgraphs not in
        ``visited``. ``pending`` are the fields being looked for further up: a key
        or condition that needs one of them cannot serve to find it."""
        if depth > 8:
            return False
        memo_key = (id(selection), state, visited, pending)
        known = self.memo.get(memo_key)
        if known is not None:
            return known
        merged_type = self.merged.get(state.type_name)
        result = merged_type is not None
        for node in selection.selections if merged_type is not None else ():
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                target = condition.name.value if condition else state.type_name
                if target == state.type_name and not self._can_resolve(
                    node.selection_set, state, visited, depth + 1, pending
                ):
                    result = False
                    break
                continue
            if not isinstance(node, FieldNode) or node.name.value == "__typename":
                continue
            assert merged_type is not None
            if not self._can_resolve_field(
                merged_type, node, state, visited, depth, pending
            ):
                result = False
                break
        self.memo[memo_key] = result
        return result

    def _can_resolve_field(
        self,
        merged_type: MergedType,
        node: FieldNode,
        state: _State,
        visited: frozenset[str],
        depth: int,
        pending: frozenset[tuple[str, str]],
    ) -> bool:
        field = merged_type.fields.get(node.name.value)
        coordinate = (state.type_name, node.name.value)
        if field is None or coordinate in pending:
            return False
        if (
            state.entered
            and node.selection_set is None
            and field.name in self._key_field_names(state)
        ):
            return True  # a leaf of the key the subgraph was entered with
        pending = pending | {coordinate}
        for at, source, below in self._field_candidates(
            field, state, visited, depth, pending
        ):
            if source.requires is not None and not self._can_resolve(
                source.requires, at, frozenset({at.subgraph}), depth + 1, pending
            ):
                continue
            if node.selection_set is None:
                return True
            child_type = _named(source.type) if source.type else ""
            children = [
                _State(name, at.subgraph, narrowed)
                for name, _, narrowed in self._objects(child_type, at.subgraph, below)
            ]
            if children and all(
                self._can_resolve(
                    node.selection_set, child, visited, depth + 1, pending
                )
                for child in children
            ):
                return True
        return False

    def _field_candidates(
        self,
        field: MergedField,
        state: _State,
        visited: frozenset[str],
        depth: int,
        pending: frozenset[tuple[str, str]],
    ) -> Iterator[tuple[_State, FieldSource, SelectionSetNode | None]]:
        """Where the field can be taken from, nearest first: a ``@provides`` above,
        the subgraph itself, then subgraphs an entity jump reaches."""
        provided = _provided_field(state.provided, field.name)
        if provided is not None and state.subgraph in field.external_in:
            own_type = self._own_type(state.type_name, field.name, state.subgraph)
            yield (
                state,
                FieldSource(state.subgraph, type=own_type),
                provided.selection_set,
            )
        direct = field.source(state.subgraph)
        if direct is not None:
            yield state, direct, direct.provides
        for target, key in self._keys_into(state.type_name, visited):
            source = field.source(target)
            if source is None:
                continue
            if self._can_resolve(
                key.selection, state, visited | {target}, depth + 1, pending
            ):
                entered = _State(state.type_name, target, None, entered=True)
                yield entered, source, source.provides

    def _own_type(self, type_name: str, field_name: str, subgraph: str) -> str:
        named = self.schemas[subgraph].get_type(type_name)
        fields = getattr(named, "fields", None) or {}
        field = fields.get(field_name)
        return str(field.type) if field is not None else ""

    # --- reporting ----------------------------------------------------------------

    def _arguments(self, field: MergedField) -> str:
        if not field.arguments:
            return ""
        printed = ", ".join(
            f"{a.name.value}: {self._placeholder(a.type, depth=0)}"
            for a in field.arguments
        )
        return f"({printed})"

    def _placeholder(self, type_node: TypeNode, depth: int) -> str:
        """A value of the type, as Apollo prints one in its error queries."""
        if isinstance(type_node, NonNullTypeNode):
            return self._placeholder(type_node.type, depth)
        if isinstance(type_node, ListTypeNode):
            return "[]"
        name = named_type_node(type_node).name.value
        builtin = _PLACEHOLDERS.get(name)
        if builtin is not None:
            return builtin
        merged = self.merged.get(name)
        if merged is not None and merged.kind is TypeKind.ENUM and merged.values:
            return next(iter(merged.values))
        if merged is not None and merged.kind is TypeKind.INPUT_OBJECT:
            if depth > 4:
                return "{}"
            required = [
                f"{f.name.value}: {self._placeholder(f.type, depth + 1)}"
                for f in merged.input_fields
                if isinstance(f.type, NonNullTypeNode) and f.default_value is None
            ]
            return "{" + ", ".join(required) + "}"
        return '"A string value"'

    def _report(
        self,
        operation: str,
        path: tuple[_Step, ...],
        failures: list[tuple[str, list[str]]],
        *,
        composite_leaf: bool,
    ) -> None:
        query = _print_path(operation, path, composite_leaf=composite_leaf)
        lines: list[str] = []
        involved: set[str] = set()
        for subgraph, reasons in failures:
            involved |= {subgraph} | _subgraphs_named(reasons)
            if len(reasons) == 1:
                lines.append(f'- from subgraph "{subgraph}": {reasons[0]}')
            else:
                lines.append(f'- from subgraph "{subgraph}":')
                lines += [f"  - {reason}" for reason in reasons]
        why = "\n".join(lines)
        self.context.issues.error(
            "SATISFIABILITY_ERROR",
            f"The following supergraph API query:\n{query}\ncannot be satisfied by "
            f"the subgraphs because:\n{why}",
            *sorted(involved),
        )


def _named(printed: str) -> str:
    """``[Book!]!`` -> ``Book``."""
    return printed.replace("[", "").replace("]", "").replace("!", "")


_PLACEHOLDERS = {
    "String": '"A string value"',
    "ID": '"<any id>"',
    "Int": "0",
    "Float": "0",
    "Boolean": "true",
}


def _is_leaf(merged: dict[str, MergedType], type_node: TypeNode) -> bool:
    named = merged.get(named_type_node(type_node).name.value)
    return named is None or named.kind in (TypeKind.SCALAR, TypeKind.ENUM)


def _provided_field(
    provided: SelectionSetNode | None, field_name: str
) -> FieldNode | None:
    if provided is None:
        return None
    for node in provided.selections:
        if isinstance(node, FieldNode) and node.name.value == field_name:
            return node
    return None


def _narrow(
    provided: SelectionSetNode | None, type_name: str
) -> SelectionSetNode | None:
    """The part of a ``@provides`` selection on an abstract type that applies to
    objects of ``type_name`` (its ``... on type_name { }`` fragments)."""
    if provided is None:
        return None
    selections = [
        selection
        for node in provided.selections
        if isinstance(node, InlineFragmentNode)
        and node.type_condition is not None
        and node.type_condition.name.value == type_name
        for selection in node.selection_set.selections
    ]
    return SelectionSetNode(selections=tuple(selections)) if selections else None


def _subgraphs_named(reasons: list[str]) -> set[str]:
    found: set[str] = set()
    for reason in reasons:
        marker = 'to subgraph "'
        if marker in reason:
            found.add(reason.split(marker, 1)[1].split('"', 1)[0])
    return found


def _print_path(
    operation: str, path: tuple[_Step, ...], *, composite_leaf: bool
) -> str:
    """The query a path stands for, printed as Apollo prints it (``...`` under a
    last field that needs a selection)."""
    lines = ["{" if operation == "query" else f"{operation} {{"]
    depth = 1
    for index, step in enumerate(path):
        indent = "  " * depth
        if step.field is not None and index == len(path) - 1 and not composite_leaf:
            lines.append(f"{indent}{step.field}{step.arguments}")
        elif step.field is not None:
            lines.append(f"{indent}{step.field}{step.arguments} {{")
            depth += 1
        else:
            lines.append(f"{indent}... on {step.type_condition} {{")
            depth += 1
    if composite_leaf:
        lines.append("  " * depth + "...")
    for level in range(depth - 1, 0, -1):
        lines.append("  " * level + "}")
    lines.append("}")
    return "\n".join(lines)
