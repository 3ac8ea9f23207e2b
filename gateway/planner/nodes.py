"""Query plan nodes (Sequence, Parallel, Fetch, Flatten, Subscription) and a printer.

A ``QueryPlan`` says which subgraph operations run in which order, where each result
is merged, and how the merged data is shaped into the client's response (``shape``).
Plans are immutable and shared by every request for the same document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLOutputType,
    OperationDefinitionNode,
    SelectionSetNode,
    print_ast,
)

if TYPE_CHECKING:
    from gateway.execution.program import PlanProgram

__all__ = [
    "EntityPart",
    "Fetch",
    "Flatten",
    "Parallel",
    "PlanNode",
    "QueryPlan",
    "RepresentationField",
    "Sequence",
    "ShapeField",
    "ShapeSelection",
    "Subscription",
    "plan_to_json",
    "print_plan",
]


@dataclass(frozen=True, slots=True)
class RepresentationField:
    """One field copied from merged data into an entity representation."""

    name: str
    selection: tuple[RepresentationField, ...] | None = None
    value: str | None = None
    """Sent instead of the data's value: an ``@interfaceObject`` subgraph is sent
    the interface's name as ``__typename``."""
    optional: bool = False
    """Under a type condition: copied only when the object has it."""
    source: str | None = None
    """The key it has in the merged data when that is not ``name`` (a required
    field with arguments is fetched under an alias of its own)."""


@dataclass(frozen=True, slots=True, eq=False)
class EntityPart:
    """One aliased ``_entities`` selection of a fetch that serves several paths."""

    path: tuple[str, ...]
    alias: str
    """The response key of this ``_entities`` selection in the subgraph's answer."""
    variable: str
    """The variable that carries this part's representations."""
    requires: SelectionSetNode
    representation: Mapping[str, tuple[RepresentationField, ...]]


@dataclass(frozen=True, slots=True, eq=False)
class Fetch:
    """One operation sent to one subgraph.

    A root fetch (``requires is None``) merges its ``data`` at the response root; an
    entity fetch sends the objects found at ``path`` as ``$representations`` to
    ``_entities`` and merges each entity back into the object it came from.
    """

    subgraph: str
    operation: str
    """The operation's text, as sent over HTTP."""
    document: DocumentNode
    """``operation`` parsed once at plan time (in-process transports run it)."""
    operation_kind: Literal["query", "mutation", "subscription"] = "query"
    operation_name: str | None = None
    variable_usages: tuple[str, ...] = ()
    """The client variables this operation uses (only those are sent)."""
    path: tuple[str, ...] = ()
    """Where results merge: response keys, ``"@"`` for every list item."""
    requires: SelectionSetNode | None = None
    """For entity fetches: the representation selection, ``... on T { __typename
    key requires }`` per entity type."""
    representation: Mapping[str, tuple[RepresentationField, ...]] = field(
        default_factory=dict
    )
    """``requires`` compiled for the executor: fields to copy, by ``__typename``."""
    parts: tuple[EntityPart, ...] = ()
    """Entity fetches to one subgraph at one depth but at different paths, merged
    into one request (``path``/``requires`` are then unused)."""

    @property
    def is_entity_fetch(self) -> bool:
        return self.requires is not None


@dataclass(frozen=True, slots=True, eq=False)
class Flatten:
    """Run ``node`` (an entity fetch) for the objects at ``path``."""

    path: tuple[str, ...]
    node: Fetch


@dataclass(frozen=True, slots=True, eq=False)
class Sequence:
    """Run ``nodes`` one after the other."""

    nodes: tuple[PlanNode, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Parallel:
    """Run ``nodes`` concurrently."""

    nodes: tuple[PlanNode, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Subscription:
    """A subscription: ``primary`` opens the upstream stream once; for every event,
    ``rest`` (entity fetches into the event's data) runs before it is shaped."""

    primary: Fetch
    rest: PlanNode | None = None


PlanNode = Fetch | Flatten | Sequence | Parallel | Subscription


@dataclass(frozen=True, slots=True, eq=False)
class ShapeField:
    """One field of the client's response."""

    response_key: str
    data_key: str
    """The key it has in the merged subgraph data (an internal alias when the
    client's alias would collide with a field the gateway selects itself)."""
    name: str
    type: GraphQLOutputType
    """The field's type in the client schema (nullability drives null propagation)."""
    parent_type: str
    selection: ShapeSelection | None = None
    local: bool = False
    """Answered by the gateway itself (introspection): copied as it is."""
    node: FieldNode | None = None
    """The client's field (its arguments), for the planner."""
    leaf: bool = False
    """A scalar or enum, not in a list: copied without further completion."""
    non_null: bool = False
    """The field's type is non-null (a null nulls the parent)."""
    check: Callable[[Any], bool] | None = None
    """For scalar and enum fields (also in lists): whether a subgraph's value is a
    value of the client type (an ``@inaccessible`` enum value or a string for an
    ``Int`` is not)."""


@dataclass(frozen=True, slots=True, eq=False)
class ShapeSelection:
    """The client's selection set on one (possibly abstract) type, with fragments,
    ``@skip``/``@include`` resolved: the fields to answer for each concrete type, in
    the order the client asked for them."""

    type_name: str
    fields_by_type: Mapping[str, tuple[ShapeField, ...]]
    abstract: bool = False
    """``True``: the concrete type is read from the data's ``__typename``."""


@dataclass(frozen=True, slots=True, eq=False)
class QueryPlan:
    """Everything the executor needs to answer one operation."""

    kind: Literal["query", "mutation", "subscription"]
    node: PlanNode | None
    shape: ShapeSelection
    introspection: DocumentNode | None = None
    """The operation reduced to its introspection root fields, answered from the
    client schema, or ``None``."""
    passthrough: bool = False
    """``node`` is one root fetch whose operation asks exactly what the client asked
    (no keys, no internal aliases, no abstract types): an error-free answer is the
    response as it is."""
    errors: tuple[Mapping[str, Any], ...] = ()
    """Errors known before any fetch, reported with the answer (fields the client's
    token may not see, ``gateway.authorization``)."""
    program: PlanProgram = field(init=False, repr=False, compare=False)
    """The plan compiled (``gateway.execution.program``): the completion of
    ``shape`` and the gathering of each entity fetch's representations. Built with
    the plan, so once per cached plan (and again by ``dataclasses.replace``)."""

    def __post_init__(self) -> None:
        # Imported here: the execution package imports these nodes.
        from gateway.execution.program import compile_plan

        object.__setattr__(self, "program", compile_plan(self.shape, self.node))


# -- printer ---------------------------------------------------------------------------


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _fetch_body(fetch: Fetch) -> str:
    definition = fetch.document.definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    selection: SelectionSetNode = definition.selection_set
    if fetch.parts:
        chunks = []
        for part, entities in zip(fetch.parts, selection.selections, strict=True):
            assert isinstance(entities, FieldNode) and entities.selection_set
            where = ".".join(part.path)
            chunks.append(
                f'{part.alias} at "{where}": '
                + print_ast(part.requires)
                + " =>\n"
                + print_ast(entities.selection_set)
            )
        body = ",\n".join(chunks)
    elif fetch.requires is not None:
        entities = selection.selections[0]
        assert isinstance(entities, FieldNode) and entities.selection_set is not None
        body = print_ast(fetch.requires) + " =>\n" + print_ast(entities.selection_set)
    else:
        body = print_ast(selection)
    if fetch.operation_kind != "query":
        body = f"{fetch.operation_kind} {body}"
    return body


def _print_node(node: PlanNode) -> str:
    if isinstance(node, Fetch):
        return (
            f'Fetch(service: "{node.subgraph}") {{\n'
            + _indent(_fetch_body(node), "  ")
            + "\n}"
        )
    if isinstance(node, Flatten):
        path = ".".join(node.path)
        return (
            f'Flatten(path: "{path}") {{\n'
            + _indent(_print_node(node.node), "  ")
            + "\n}"
        )
    if isinstance(node, (Sequence, Parallel)):
        title = "Sequence" if isinstance(node, Sequence) else "Parallel"
        inner = ",\n".join(_print_node(child) for child in node.nodes)
        return f"{title} {{\n" + _indent(inner, "  ") + "\n}"
    primary = "Primary: {\n" + _indent(_print_node(node.primary), "  ") + "\n}"
    parts = [primary]
    if node.rest is not None:
        parts.append("Rest: {\n" + _indent(_print_node(node.rest), "  ") + "\n}")
    return "Subscription {\n" + _indent(",\n".join(parts), "  ") + "\n}"


def print_plan(plan: QueryPlan) -> str:
    """The plan as readable text, in the spirit of Apollo's ``QueryPlan { ... }``."""
    parts = []
    if plan.introspection is not None:
        parts.append("Introspection (answered by the gateway)")
    if plan.node is not None:
        parts.append(_print_node(plan.node))
    if not parts:
        return "QueryPlan {}"
    return "QueryPlan {\n" + _indent(",\n".join(parts), "  ") + "\n}"


# -- JSON ------------------------------------------------------------------------------


def _node_json(node: PlanNode) -> dict[str, Any]:
    if isinstance(node, Fetch):
        out: dict[str, Any] = {
            "kind": "Fetch",
            "serviceName": node.subgraph,
            "operationKind": node.operation_kind,
            "operation": node.operation,
        }
        if node.operation_name:
            out["operationName"] = node.operation_name
        if node.variable_usages:
            out["variableUsages"] = list(node.variable_usages)
        if node.requires is not None:
            out["requires"] = print_ast(node.requires)
        if node.parts:
            out["entities"] = [
                {
                    "alias": part.alias,
                    "path": list(part.path),
                    "requires": print_ast(part.requires),
                }
                for part in node.parts
            ]
        return out
    if isinstance(node, Flatten):
        return {
            "kind": "Flatten",
            "path": list(node.path),
            "node": _node_json(node.node),
        }
    if isinstance(node, (Sequence, Parallel)):
        return {
            "kind": "Sequence" if isinstance(node, Sequence) else "Parallel",
            "nodes": [_node_json(child) for child in node.nodes],
        }
    out = {"kind": "Subscription", "primary": _node_json(node.primary)}
    if node.rest is not None:
        out["rest"] = _node_json(node.rest)
    return out


def plan_to_json(plan: QueryPlan) -> dict[str, Any]:
    """The plan as JSON (``gateway plan --json``, ``extensions.queryPlan``), in the
    shape of Apollo's query plan nodes (``kind``, ``serviceName``, ``path`` with
    ``"@"`` for list items), plus ``text``: the printed plan."""
    return {
        "kind": "QueryPlan",
        "node": _node_json(plan.node) if plan.node is not None else None,
        "introspection": plan.introspection is not None,
        "text": print_plan(plan),
    }
