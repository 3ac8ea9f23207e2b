"""PlanBuilder: one operation's shape -> fetch steps -> plan nodes, on the query graph.

For every client field the builder stands at a node ``(type, subgraph)`` of the
``QueryGraph`` (the subgraph of the fetch step being built) and chooses the cheapest
way to the field (fewest fetches, then fewest hops, counted for the field's whole
selection):

- the field edge out of the current node, when the subgraph resolves the field there
  (directly, or because an enclosing ``@provides`` covers it) and needs nothing
  first: the field joins the current step;
- otherwise a path of key edges (``PathFinder``) to a subgraph that resolves it: each
  key edge is an entity step whose key fields (the edge's condition) are selected in
  the step before it, or fetched first from wherever they resolve; a field with
  ``@requires`` is always reached through a key edge (into its own subgraph too), with
  the required fields fetched first and sent in the representation;
- for a query, when no key edge leads there, a root edge: the path from the root is
  selected again in a subgraph that resolves all of it (shared roots and non-entity
  types split across subgraphs).

Steps then become plan nodes: a step runs after the steps it depends on; siblings run
in ``Parallel``; entity steps to one subgraph at one depth are merged into one
request; mutation root fields run in document order, each with its follow-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.language import Visitor, visit

from gateway.errors import PlanningError
from gateway.operation import Operation
from gateway.planner.nodes import (
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    QueryPlan,
    Sequence,
    ShapeField,
    ShapeSelection,
    Subscription,
)
from gateway.planner.paths import UNREACHABLE, ZERO, Cost, PathFinder, Route
from gateway.planner.query_graph import FieldEdge, KeyEdge, QueryGraph, field_set_names
from gateway.planner.shape import INTROSPECTION, TYPENAME, ShapeBuilder, is_plain
from gateway.planner.steps import (
    FetchStep,
    Selection,
    condition_key,
    render,
)

__all__ = ["PlanBuilder"]

_Chain = tuple[tuple[str, ShapeField, bool], ...]
"""The client fields from the root to here: (parent type, field, parent abstract)."""


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


class PlanBuilder:
    """Plans one operation; used once."""

    def __init__(
        self,
        graph: QueryGraph,
        operation: Operation,
        variables: Mapping[str, Any],
    ) -> None:
        self.graph = graph
        self.supergraph = graph.supergraph
        self.schema = graph.supergraph.schema
        self.operation = operation
        self.variables = dict(variables)
        self.steps: list[FetchStep] = []
        self.roots: list[FetchStep] = []
        self._root_by_subgraph: dict[str, FetchStep] = {}
        self.paths = PathFinder(graph)

    # -- steps -------------------------------------------------------------------

    def _new_step(
        self, subgraph: str, path: tuple[str, ...], entity: bool
    ) -> FetchStep:
        step = FetchStep(len(self.steps), subgraph, path, entity)
        self.steps.append(step)
        return step

    def _root_step(self, subgraph: str) -> FetchStep:
        step = self._root_by_subgraph.get(subgraph)
        if step is None:
            step = self._root_by_subgraph[subgraph] = self._new_step(
                subgraph, (), entity=False
            )
            self.roots.append(step)
        return step

    def _entity_step(
        self,
        parent: FetchStep,
        parent_selection: Selection,
        type_name: str,
        path: tuple[str, ...],
        edge: KeyEdge,
        provided: SelectionSetNode | None,
        fresh: bool = False,
        exclude: FetchStep | None = None,
        requires: SelectionSetNode | None = None,
    ) -> FetchStep:
        """The entity step into ``edge.subgraph`` for the objects at ``path``; its
        key fields are selected in ``parent`` (or fetched first). ``exclude`` is a
        step that must not be reused (the one a condition is fetched for)."""
        key = (edge.subgraph, path)
        child = None if fresh else parent.children.get(key)
        if child is not None and (
            child is exclude
            or (
                requires is not None
                and type_name in child.representations
                and child.representations[type_name].conflicts(requires)
            )
        ):
            child, fresh = None, True
        if child is None:
            child = self._new_step(edge.subgraph, path, entity=True)
            child.deps.append(parent)
            if not fresh or key not in parent.children:
                parent.children[key] = child
        if edge.entity != type_name:
            child.typename_as[type_name] = edge.entity
        representation = child.representations.get(type_name)
        if representation is None:
            representation = child.representations[type_name] = Selection()
            representation.field(TYPENAME, TYPENAME)
        representation.add_selection_set(edge.key.selection)
        if self.graph.local_type(parent.subgraph, type_name) == type_name:
            parent_selection.field(TYPENAME, TYPENAME)
        self._condition(
            parent,
            parent_selection,
            type_name,
            path,
            edge.key.selection,
            child,
            provided,
        )
        return child

    def _condition(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        path: tuple[str, ...],
        fields: SelectionSetNode,
        before: FetchStep,
        provided: SelectionSetNode | None,
        requires: bool = False,
    ) -> None:
        """Put the fields of a condition (key, ``@requires``) into the objects at
        ``path`` before ``before`` runs: in ``step`` where it resolves them, else
        through the cheapest path from it (for ``@requires``, possibly an earlier
        fetch from ``before``'s own subgraph)."""
        entered = step.entered_with(type_name, path)
        for name, node in field_set_names(fields, type_name).items():
            if name in entered and node.selection_set is None and not node.arguments:
                continue  # already in the merged data
            edge = self.paths.local_edge(step.subgraph, type_name, name, provided)
            if edge is not None and edge.requires is None:
                self._condition_field(
                    step,
                    selection,
                    type_name,
                    path,
                    node,
                    edge,
                    before,
                    provided,
                    requires,
                )
                continue
            route = self.paths.route(
                step.subgraph,
                type_name,
                name,
                None,
                provided,
                frozenset()
                if requires
                else frozenset({before.subgraph}) - {step.subgraph},
            )
            if route is None:
                raise PlanningError(
                    f"cannot plan {type_name}.{name}, needed by subgraph "
                    f"{before.subgraph!r}: no subgraph resolving it can be entered "
                    f"from {step.subgraph!r}"
                )
            owner, target = self._follow(
                step, selection, type_name, path, route, provided, exclude=before
            )
            self._condition_field(
                owner,
                target,
                type_name,
                path,
                node,
                route.edge,
                before,
                route.edge.provides,
                requires,
            )
            if owner is not before and owner not in before.deps:
                before.deps.append(owner)

    def _condition_field(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        path: tuple[str, ...],
        node: FieldNode,
        edge: FieldEdge,
        before: FetchStep,
        provided: SelectionSetNode | None,
        requires: bool = False,
    ) -> None:
        """One field of a condition, resolved by ``step``: its own selection (a
        nested key such as ``category { id tag }``) is a condition on its value."""
        nested_type = self.schema.get_type(edge.target)
        if node.selection_set is None or not isinstance(nested_type, GraphQLObjectType):
            selection.add_field_node(node)
            return
        name = node.name.value
        sub = selection.field(
            condition_key(node), name, node.arguments or (), composite=True
        )
        assert sub is not None
        parent = self.schema.get_type(type_name)
        fields = getattr(parent, "fields", None) or {}
        depth = _list_depth(fields[name].type) if name in fields else 0
        self._condition(
            step,
            sub,
            edge.target,
            (*path, condition_key(node), *("@",) * depth),
            node.selection_set,
            before,
            self.paths.nested_provided(edge, provided, type_name),
            requires,
        )

    def _follow(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        path: tuple[str, ...],
        route: Route,
        provided: SelectionSetNode | None,
        exclude: FetchStep | None = None,
    ) -> tuple[FetchStep, Selection]:
        """Take the key edges of ``route``; the step and selection where its field
        is then resolved."""
        last = len(route.jumps) - 1
        for number, edge in enumerate(route.jumps):
            requires = route.edge.requires if number == last else None
            child = self._entity_step(
                step,
                selection,
                type_name,
                path,
                edge,
                provided,
                fresh=requires is not None and edge.subgraph == step.subgraph,
                exclude=exclude,
                requires=requires,
            )
            if requires is not None:
                self._condition(
                    step,
                    selection,
                    type_name,
                    path,
                    requires,
                    child,
                    provided,
                    requires=True,
                )
                child.representations[type_name].add_selection_set(requires)
            step, selection = child, child.selection.fragment(edge.entity)
            provided = None
        return step, selection

    # -- walking the shape -------------------------------------------------------

    def _note_variables(self, step: FetchStep, node: FieldNode | None) -> None:
        if node is None or not node.arguments:
            return
        finder = _VariableNames()
        for argument in node.arguments:
            visit(argument, finder)
        step.variables |= finder.names

    def _plan_selection(
        self,
        step: FetchStep,
        selection: Selection,
        shape: ShapeSelection,
        local_type: str,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
        chain: _Chain | None,
    ) -> None:
        """Plan the client's ``shape`` on a value that ``step``'s subgraph types
        ``local_type``."""
        if not shape.abstract:
            type_name = shape.type_name
            for field in shape.fields_by_type[type_name]:
                self._plan_field(
                    step, selection, type_name, field, path, provided, chain, False
                )
            return
        selection.field(TYPENAME, TYPENAME)
        subgraph = step.subgraph
        if self.graph.is_interface_object(subgraph, local_type):
            self._plan_interface_object(step, selection, shape, local_type, path, chain)
            return
        possible = self.graph.possible_types(subgraph, local_type)
        if not possible and local_type in shape.fields_by_type:
            # No object can come back: what is asked must still be reachable.
            possible = frozenset((local_type,))
        for type_name, fields in shape.fields_by_type.items():
            if not fields or type_name not in possible:
                continue
            target = (
                selection if type_name == local_type else selection.fragment(type_name)
            )
            for field in fields:
                self._plan_field(
                    step, target, type_name, field, path, provided, chain, True
                )

    def _plan_field(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        field: ShapeField,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
        chain: _Chain | None,
        abstract_parent: bool,
    ) -> None:
        if field.local:
            return
        subgraph = step.subgraph
        if field.name == TYPENAME:
            # Under an abstract type it is selected once, beside the fragments.
            if (
                not abstract_parent
                and self.graph.local_type(subgraph, type_name) == type_name
            ):
                selection.field(TYPENAME, TYPENAME)
            return
        if (
            field.data_key == field.name
            and field.selection is None
            and (field.node is None or not field.node.arguments)
            and field.name in step.entered_with(type_name, path)
        ):
            return  # sent in the representation: already in the merged data
        edge = self.paths.local_edge(subgraph, type_name, field.name, provided)
        route: Route | None = None
        local_cost = UNREACHABLE
        nested: SelectionSetNode | None = None
        if edge is not None and edge.requires is None:
            nested = self.paths.nested_provided(edge, provided, type_name)
            local_cost = (
                self.paths.selection_cost(
                    subgraph, field.selection, edge.target, nested
                )
                if field.selection is not None
                else ZERO
            )
        if local_cost.fetches > 0:
            route = self.paths.route(
                subgraph, type_name, field.name, field.selection, provided
            )
            if route is not None and not route.cost < local_cost:
                route = None
        if route is not None:
            owner, target = self._follow(
                step, selection, type_name, path, route, provided
            )
            self._add_local(
                owner,
                target,
                type_name,
                field,
                route.edge,
                path,
                route.edge.provides,
                chain,
                abstract_parent,
            )
            return
        if edge is not None and edge.requires is None:
            if local_cost.fetches < Cost.INFINITE or field.selection is None:
                self._add_local(
                    step,
                    selection,
                    type_name,
                    field,
                    edge,
                    path,
                    nested,
                    chain,
                    abstract_parent,
                )
                return
        if field.selection is not None:
            field = self._plan_parts(
                step,
                selection,
                type_name,
                field,
                path,
                provided,
                chain,
                abstract_parent,
            )
            if not any(field.selection.fields_by_type.values()):  # type: ignore[union-attr]
                return
            if edge is not None and edge.requires is None:
                # What no path reaches: planned here, to fail where it fails.
                self._add_local(
                    step,
                    selection,
                    type_name,
                    field,
                    edge,
                    path,
                    nested,
                    chain,
                    abstract_parent,
                )
                return
        if chain is not None and self._reenter(
            type_name, field, path, chain, abstract_parent
        ):
            return
        raise PlanningError(
            f"cannot plan {type_name}.{field.name} from subgraph {subgraph!r}: "
            "no subgraph resolving it can be entered"
        )

    def _plan_parts(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        field: ShapeField,
        path: tuple[str, ...],
        provided: SelectionSetNode | None,
        chain: _Chain | None,
        abstract_parent: bool,
    ) -> ShapeField:
        """No one path reaches ``field``'s whole selection: take, one after the
        other, the path to the subgraph that reaches most of what is left (the
        same field fetched along several paths, merged at one place). Returns the
        field with what is left unreached."""
        subgraph = step.subgraph
        assert field.selection is not None
        while True:
            best: tuple[int, Cost, FieldEdge, Route | None, ShapeSelection] | None = (
                None
            )
            rest: ShapeSelection | None = None
            for source in self.graph.sources(type_name, field.name):
                if source.subgraph == subgraph and source.requires is None:
                    route: Route | None = None
                    nested = self.paths.nested_provided(source, provided, type_name)
                    cost = ZERO
                else:
                    route = self.paths.route(
                        subgraph,
                        type_name,
                        field.name,
                        None,
                        provided,
                        target=source.subgraph,
                    )
                    if route is None:
                        continue
                    nested = source.provides
                    cost = route.cost
                here, left = self._reachable(
                    source.subgraph, field.selection, source.target, nested
                )
                count = sum(
                    1
                    for fields in here.fields_by_type.values()
                    for f in fields
                    if f.name != TYPENAME
                )
                if count and (best is None or (-count, cost) < (-best[0], best[1])):
                    best = (count, cost, source, route, here)
                    rest = left
            if best is None or rest is None:
                return field
            _, _, source, route, here = best
            part = replace(field, selection=here)
            if route is None:
                self._add_local(
                    step,
                    selection,
                    type_name,
                    part,
                    source,
                    path,
                    self.paths.nested_provided(source, provided, type_name),
                    chain,
                    abstract_parent,
                )
            else:
                owner, target = self._follow(
                    step, selection, type_name, path, route, provided
                )
                self._add_local(
                    owner,
                    target,
                    type_name,
                    part,
                    route.edge,
                    path,
                    route.edge.provides,
                    chain,
                    abstract_parent,
                )
            field = replace(field, selection=rest)
            if not any(rest.fields_by_type.values()):
                return field

    def _reachable(
        self,
        subgraph: str,
        shape: ShapeSelection,
        local_type: str,
        provided: SelectionSetNode | None,
    ) -> tuple[ShapeSelection, ShapeSelection]:
        """``shape`` split into what ``subgraph`` reaches from ``local_type`` and
        the rest."""
        if self.graph.is_interface_object(subgraph, local_type):
            cost = self.paths.selection_cost(subgraph, shape, local_type, provided)
            if cost.fetches < Cost.INFINITE:
                return shape, replace(
                    shape, fields_by_type={t: () for t in shape.fields_by_type}
                )
            return replace(
                shape, fields_by_type={t: () for t in shape.fields_by_type}
            ), shape
        possible = (
            self.graph.possible_types(subgraph, local_type)
            if shape.abstract
            else frozenset((shape.type_name,))
        )
        here: dict[str, tuple[ShapeField, ...]] = {}
        rest: dict[str, tuple[ShapeField, ...]] = {}
        for type_name, fields in shape.fields_by_type.items():
            if type_name not in possible:  # never comes back from there
                here[type_name] = rest[type_name] = ()
                continue
            reachable, unreachable = [], []
            for field in fields:
                if field.local or field.name == TYPENAME:
                    reachable.append(field)
                    continue
                cost = self.paths.field_cost(subgraph, type_name, field, provided)
                if cost.fetches < Cost.INFINITE:
                    reachable.append(field)
                else:
                    unreachable.append(field)
            here[type_name] = tuple(reachable)
            rest[type_name] = tuple(unreachable)
        if shape.abstract and any(rest.values()):
            # The runtime type is decided by one subgraph: an abstract selection is
            # not split by type condition across subgraphs (Hive Router and Apollo
            # refuse such a plan too).
            return replace(
                shape, fields_by_type={t: () for t in shape.fields_by_type}
            ), shape
        return (
            replace(shape, fields_by_type=here),
            replace(shape, fields_by_type=rest),
        )

    def _add_local(
        self,
        step: FetchStep,
        selection: Selection,
        type_name: str,
        field: ShapeField,
        edge: FieldEdge,
        path: tuple[str, ...],
        nested: SelectionSetNode | None,
        chain: _Chain | None,
        abstract_parent: bool,
    ) -> None:
        """``field`` joins ``step`` (its subgraph resolves it through ``edge``)."""
        node = field.node
        arguments: tuple[ArgumentNode, ...] = ()
        if node is not None and node.arguments:
            arguments = tuple(node.arguments)
            self._note_variables(step, node)
        sub = selection.field(
            field.data_key, field.name, arguments, composite=field.selection is not None
        )
        if field.selection is None or sub is None:
            return
        child_path = path + (field.data_key,) + ("@",) * _list_depth(field.type)
        child_chain = (
            (*chain, (type_name, field, abstract_parent)) if chain is not None else None
        )
        shape = field.selection
        if isinstance(get_named_type(field.type), GraphQLUnionType):
            shape = self._shared_members(step, type_name, field, edge, shape, chain)
        self._plan_selection(
            step, sub, shape, edge.target, child_path, nested, child_chain
        )

    def _shared_members(
        self,
        step: FetchStep,
        type_name: str,
        field: ShapeField,
        edge: FieldEdge,
        shape: ShapeSelection,
        chain: _Chain | None,
    ) -> ShapeSelection:
        """A union field that more than one subgraph could answer here: the
        response must not depend on which one the plan picked, so only the union
        members every one of them has are selected (Hive Router's rule for
        partial unions; members of one subgraph only come back as ``__typename``
        with their fields null)."""
        candidates = [edge]
        root_type = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }[self.operation.kind]
        root = root_type is not None and type_name == root_type.name
        for other in self.graph.sources(type_name, field.name):
            if other.subgraph == edge.subgraph or other.requires is not None:
                continue
            if chain is not None:
                if self._could_serve(other.subgraph, type_name, chain):
                    candidates.append(other)
            elif root or (
                self.paths.route(
                    step.subgraph,
                    type_name,
                    field.name,
                    None,
                    None,
                    target=other.subgraph,
                )
                is not None
            ):
                candidates.append(other)
        if len(candidates) < 2:
            return shape
        shared: set[str] | None = None
        for candidate in candidates:
            members = self.graph.possible_types(candidate.subgraph, candidate.target)
            shared = set(members) if shared is None else shared & members
        assert shared is not None
        if all(t in shared for t, fields in shape.fields_by_type.items() if fields):
            return shape
        return replace(
            shape,
            fields_by_type={
                t: fields if t in shared else ()
                for t, fields in shape.fields_by_type.items()
            },
        )

    def _could_serve(self, subgraph: str, type_name: str, chain: _Chain) -> bool:
        """Some path reaches ``type_name`` at this place in ``subgraph``: it
        resolves the fields from the nearest entity above (which it can be entered
        at) or from the root down to here."""
        current = type_name
        for parent, field, _ in reversed(chain):
            if any(edge.subgraph == subgraph for edge in self.graph.keys(current)):
                return True
            if self.graph.field(parent, subgraph, field.name) is None:
                return False
            current = parent
        return True

    def _reenter(
        self,
        type_name: str,
        field: ShapeField,
        path: tuple[str, ...],
        chain: _Chain,
        abstract_parent: bool,
    ) -> bool:
        """Select the path from the root again in a subgraph that resolves all of
        it and ``field`` (a root edge): how a value type or a shared root field
        whose fields live in several subgraphs is answered."""
        if abstract_parent or any(abstract for _, _, abstract in chain):
            # The runtime type is decided by one subgraph: never split by type.
            return False
        best: tuple[Cost, str] | None = None
        for edge in self.graph.sources(type_name, field.name):
            subgraph = edge.subgraph
            if edge.requires is not None:
                continue
            if not all(
                (found := self.graph.field(parent, subgraph, f.name)) is not None
                and found.requires is None
                for parent, f, _ in chain
            ):
                continue
            cost = (
                self.paths.selection_cost(subgraph, field.selection, edge.target, None)
                if field.selection is not None
                else ZERO
            )
            if subgraph not in self._root_by_subgraph:
                cost = cost + Cost(1, 1)
            if best is None or cost < best[0]:
                best = (cost, subgraph)
        if best is None or best[0].fetches >= Cost.INFINITE:
            return False
        step = self._root_step(best[1])
        selection = step.selection
        for parent, f, abstract in chain:
            if abstract:
                selection.field(TYPENAME, TYPENAME)
                selection = selection.fragment(parent)
            arguments: tuple[ArgumentNode, ...] = ()
            if f.node is not None and f.node.arguments:
                self._note_variables(step, f.node)
                arguments = tuple(f.node.arguments)
            sub = selection.field(f.data_key, f.name, arguments, composite=True)
            assert sub is not None
            selection = sub
        if abstract_parent:
            selection.field(TYPENAME, TYPENAME)
            selection = selection.fragment(type_name)
        self._plan_field(step, selection, type_name, field, path, None, chain, False)
        return True

    def _plan_interface_object(
        self,
        step: FetchStep,
        selection: Selection,
        shape: ShapeSelection,
        interface: str,
        path: tuple[str, ...],
        chain: _Chain | None,
    ) -> None:
        """``step``'s subgraph sees the interface as an ``@interfaceObject`` type:
        its objects come back as ``__typename: "<Interface>"``. When the client's
        selection is the same for every implementation, it is answered on the
        interface; otherwise the fields this subgraph resolves stay here and the
        real ``__typename`` (and the implementations' own fields) come from the
        cheapest subgraph that defines the interface with its implementations,
        through ``_entities``."""
        subgraph = step.subgraph
        own = shape.fields_by_type.get(interface, ())
        concrete = {t: f for t, f in shape.fields_by_type.items() if t != interface}
        signature = [(f.response_key, f.name) for f in own]
        if not concrete or not (
            any(f.name == TYPENAME for f in own)
            or any(
                [(f.response_key, f.name) for f in fields] != signature
                for fields in concrete.values()
            )
        ):
            for field in own:
                self._plan_field(
                    step, selection, interface, field, path, None, chain, False
                )
            return
        rest: list[tuple[str, ShapeField]] = []
        for type_name, fields in concrete.items():
            for field in fields:
                if field.name == TYPENAME or field.local:
                    continue
                edge = self.graph.field(interface, subgraph, field.name)
                if edge is not None and edge.requires is None:
                    self._plan_field(
                        step, selection, interface, field, path, None, chain, False
                    )
                else:
                    rest.append((type_name, field))
        entries = self.graph.interface_entries(interface)
        best: tuple[Cost, KeyEdge] | None = None
        for entry in entries:
            cost = self.paths.edge_cost(subgraph, interface, entry, None)
            if cost is None:
                continue
            possible = self.graph.possible_types(entry.subgraph, interface)
            for type_name, field in rest:
                if type_name in possible:
                    cost = cost + self.paths.field_cost(
                        entry.subgraph, type_name, field, None
                    )
            if best is None or cost < best[0]:
                best = (cost, entry)
        if best is None:
            raise PlanningError(
                f"cannot plan {interface}: no subgraph that defines its "
                f"implementations can be entered from {subgraph!r}"
            )
        entry = best[1]
        child = self._entity_step(step, selection, interface, path, entry, None)
        child.selection.fragment(interface).field(TYPENAME, TYPENAME)
        possible = self.graph.possible_types(entry.subgraph, interface)
        for type_name, field in rest:
            if type_name not in possible:
                continue
            self._plan_field(
                child,
                child.selection.fragment(type_name),
                type_name,
                field,
                path,
                None,
                chain,
                True,
            )

    # -- the root ----------------------------------------------------------------

    def _plan_root(self, shape: ShapeSelection) -> None:
        root_name = shape.type_name
        kind = self.operation.kind
        for field in shape.fields_by_type[root_name]:
            if field.local or field.name == TYPENAME:
                continue
            best: tuple[Cost, int, FieldEdge] | None = None
            for order, edge in enumerate(self.graph.sources(root_name, field.name)):
                cost = (
                    self.paths.selection_cost(
                        edge.subgraph, field.selection, edge.target, edge.provides
                    )
                    if field.selection is not None
                    else ZERO
                )
                if kind == "mutation" or edge.subgraph not in self._root_by_subgraph:
                    cost = cost + Cost(1, 0)
                rank = (cost, order)
                if best is None or rank < best[:2]:
                    best = (cost, order, edge)
            if best is None:
                raise PlanningError(f"no subgraph resolves {root_name}.{field.name}")
            edge = best[2]
            if kind == "mutation":
                step = self._new_step(edge.subgraph, (), entity=False)
                self.roots.append(step)
            else:
                step = self._root_step(edge.subgraph)
            chain: _Chain | None = () if kind == "query" else None
            self._add_local(
                step,
                step.selection,
                root_name,
                field,
                edge,
                (),
                edge.provides,
                chain,
                False,
            )

    # -- steps -> plan nodes -----------------------------------------------------

    def _fetch(self, steps: list[FetchStep]) -> Fetch:
        definition = self.operation.definition
        return render(
            steps,
            self.operation.kind,
            self.operation.name,
            definition.variable_definitions or (),
        )

    def _nodes(self) -> list[PlanNode]:
        steps = [s for s in self.steps if s.entity or s.selection]
        depth: dict[int, int] = {}

        def depth_of(step: FetchStep) -> int:
            found = depth.get(step.index)
            if found is None:
                depth[step.index] = 0  # a cycle guard; overwritten below
                found = depth[step.index] = 1 + max(
                    (depth_of(d) for d in step.deps), default=-1
                )
            return found

        for step in steps:
            depth_of(step)
        if self.operation.kind != "mutation":
            seen: set[tuple[str, int]] = set()
            for step in steps:
                if not step.entity:
                    continue
                slot = (step.subgraph, depth[step.index])
                if slot in seen:
                    return self._layered(steps, depth)
                seen.add(slot)
        anchor: dict[int, FetchStep] = {}
        tree: dict[int, list[FetchStep]] = {s.index: [] for s in steps}
        for step in steps:
            if not step.deps:
                continue
            latest = max(step.deps, key=lambda d: depth[d.index])
            anchor[step.index] = latest
            tree[latest.index].append(step)
        for step in steps:
            for dep in step.deps:
                ancestor: FetchStep | None = anchor.get(step.index)
                while ancestor is not None and ancestor is not dep:
                    ancestor = anchor.get(ancestor.index)
                if ancestor is None:
                    if self.operation.kind == "mutation":
                        return self._layered_per_root(steps, depth)
                    return self._layered(steps, depth)

        def node(step: FetchStep) -> PlanNode:
            fetch = self._fetch([step])
            own: PlanNode = Flatten(step.path, fetch) if step.entity else fetch
            children = [node(child) for child in tree[step.index]]
            if not children:
                return own
            after = children[0] if len(children) == 1 else Parallel(tuple(children))
            if isinstance(after, Sequence):
                return Sequence((own, *after.nodes))
            return Sequence((own, after))

        return [node(root) for root in self.roots if root.selection]

    def _layered_per_root(
        self, steps: list[FetchStep], depth: dict[int, int]
    ) -> list[PlanNode]:
        """Mutation root fields run one after the other, each root with the steps
        that follow from it in stages of its own."""
        owner: dict[int, int] = {}
        for root in self.roots:
            pending = [root]
            while pending:
                step = pending.pop()
                if step.index in owner:
                    continue
                owner[step.index] = root.index
                pending.extend(step.children.values())
        for step in steps:  # steps reached only through conditions
            if step.index not in owner:
                owner[step.index] = max(
                    (owner.get(d.index, 0) for d in step.deps), default=0
                )
        nodes: list[PlanNode] = []
        for root in self.roots:
            mine = [s for s in steps if owner.get(s.index) == root.index]
            if mine:
                nodes.extend(self._layered(mine, depth))
        return nodes

    def _layered(self, steps: list[FetchStep], depth: dict[int, int]) -> list[PlanNode]:
        """Stages by depth; entity steps to one subgraph in one stage become one
        request."""
        stages: list[PlanNode] = []
        for level in range(max(depth[s.index] for s in steps) + 1):
            nodes: list[PlanNode] = []
            merged: dict[str, list[FetchStep]] = {}
            for step in steps:
                if depth[step.index] != level:
                    continue
                if step.entity:
                    merged.setdefault(step.subgraph, []).append(step)
                else:
                    nodes.append(self._fetch([step]))
            for group in merged.values():
                fetch = self._fetch(group)
                nodes.append(fetch if fetch.parts else Flatten(group[0].path, fetch))
            if nodes:
                stages.append(nodes[0] if len(nodes) == 1 else Parallel(tuple(nodes)))
        return [stages[0] if len(stages) == 1 else Sequence(tuple(stages))]

    def _introspection(self, shape: ShapeSelection) -> DocumentNode | None:
        fields = shape.fields_by_type[shape.type_name]
        if not any(f.local for f in fields):
            return None
        definition = self.operation.definition
        keep = [
            s
            for s in definition.selection_set.selections
            if not isinstance(s, FieldNode) or s.name.value in INTROSPECTION
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
        shape = ShapeBuilder(self.supergraph, self.operation, self.variables).build(
            root_type
        )
        self._plan_root(shape)
        nodes = self._nodes() if self.roots else []
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
            and all(f.name != TYPENAME for f in shape.fields_by_type[shape.type_name])
            and is_plain(shape)
            and self._same_leaves(plan_node.subgraph, shape, kind.capitalize()),
        )

    def _same_leaves(
        self, subgraph: str, shape: ShapeSelection, type_name: str
    ) -> bool:
        """Every leaf of ``shape`` has the same type in ``subgraph`` as in the client
        schema (an enum there has no value the client schema lacks): the subgraph's
        answer needs no completion."""
        schema = self.supergraph.subgraphs[subgraph].schema
        fields = getattr(schema.get_type(type_name), "fields", None) or {}
        for field in shape.fields_by_type[shape.type_name]:
            if field.local or field.name == TYPENAME:
                continue
            definition = fields.get(field.name)
            if definition is None:
                return False
            theirs = get_named_type(definition.type)
            ours = get_named_type(field.type)
            if field.selection is not None:
                if not self._same_leaves(subgraph, field.selection, theirs.name):
                    return False
            elif theirs.name != ours.name:
                return False
            elif isinstance(ours, GraphQLEnumType) and not (
                set(theirs.values) <= set(ours.values)
            ):
                return False
        return True
