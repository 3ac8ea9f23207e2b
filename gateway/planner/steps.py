"""Fetch steps under construction: one subgraph operation each, then a ``Fetch``.

A ``FetchStep`` collects the selection to send to one subgraph (at the response root,
or through ``_entities`` for the objects at one path), the representation each entity
type is sent as, the client variables it uses and the steps it must wait for.
``render`` turns a step (or several entity steps to one subgraph, merged into one
request with aliased ``_entities`` selections) into a ``Fetch``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    print_ast,
)

from gateway.errors import PlanningError
from gateway.planner.nodes import EntityPart, Fetch, RepresentationField

__all__ = ["FetchStep", "Selection", "render"]

_TYPENAME = "__typename"
_TYPENAME_ONLY = SelectionSetNode(
    selections=(
        FieldNode(
            alias=None,
            name=NameNode(value=_TYPENAME),
            arguments=(),
            directives=(),
            selection_set=None,
        ),
    )
)
_REPRESENTATIONS_TYPE = NonNullTypeNode(
    type=ListTypeNode(
        type=NonNullTypeNode(type=NamedTypeNode(name=NameNode(value="_Any")))
    )
)


def _representations_variable(name: str) -> VariableDefinitionNode:
    return VariableDefinitionNode(
        variable=VariableNode(name=NameNode(value=name)),
        type=_REPRESENTATIONS_TYPE,
        default_value=None,
        directives=(),
    )


def _entities_field(
    alias: str | None, variable: str, body: SelectionSetNode
) -> FieldNode:
    return FieldNode(
        alias=NameNode(value=alias) if alias else None,
        name=NameNode(value="_entities"),
        arguments=(
            ArgumentNode(
                name=NameNode(value="representations"),
                value=VariableNode(name=NameNode(value=variable)),
            ),
        ),
        directives=(),
        selection_set=body,
    )


class _Field:
    __slots__ = ("alias", "argument_nodes", "arguments", "name", "selection")

    def __init__(
        self,
        name: str,
        alias: str | None,
        argument_nodes: tuple[ArgumentNode, ...],
        selection: Selection | None,
    ) -> None:
        self.name = name
        self.alias = alias
        self.argument_nodes = argument_nodes
        self.arguments = _print_arguments(argument_nodes)
        """The arguments as printed: how two selections of one field compare."""
        self.selection = selection


def _print_arguments(arguments: tuple[ArgumentNode, ...]) -> str:
    if not arguments:
        return ""
    return "(" + ", ".join(print_ast(a) for a in arguments) + ")"


def print_arguments(node: FieldNode) -> str:
    return _print_arguments(tuple(node.arguments or ()))


def condition_key(node: FieldNode) -> str:
    """The key a field of a key or ``@requires`` has in the merged data: its name,
    or for a field with arguments an alias of its own, so that the same field
    required with other arguments (or asked by the client) is kept apart."""
    name = node.name.value
    if not node.arguments:
        return name
    digest = zlib.crc32(print_arguments(node).encode())
    return f"_{name}_{digest:08x}"


class Selection:
    """A subgraph selection set being built: fields by response key, then inline
    fragments by type condition."""

    __slots__ = ("fields", "fragments")

    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}
        self.fragments: dict[str, Selection] = {}

    def field(
        self,
        key: str,
        name: str,
        arguments: tuple[ArgumentNode, ...] = (),
        composite: bool = False,
    ) -> Selection | None:
        existing = self.fields.get(key)
        if existing is not None:
            printed = _print_arguments(arguments)
            if existing.name != name or existing.arguments != printed:
                raise PlanningError(
                    f"response key {key!r} selects both {existing.name}"
                    f"{existing.arguments} and {name}{printed}"
                )
            if composite and existing.selection is None:
                existing.selection = Selection()
            return existing.selection
        selection = Selection() if composite else None
        alias = key if key != name else None
        self.fields[key] = _Field(name, alias, arguments, selection)
        return selection

    def fragment(self, type_name: str) -> Selection:
        selection = self.fragments.get(type_name)
        if selection is None:
            selection = self.fragments[type_name] = Selection()
        return selection

    def add_field_node(self, node: FieldNode) -> None:
        """Add one field of a field set (a key or ``@requires``), unaliased, with
        its arguments."""
        name = node.name.value
        sub = self.field(
            condition_key(node),
            name,
            tuple(node.arguments or ()),
            composite=node.selection_set is not None,
        )
        if sub is not None and node.selection_set is not None:
            sub.add_selection_set(node.selection_set)

    def add_selection_set(self, node: SelectionSetNode) -> None:
        """Add a field set (a key or ``@requires``) with plain, unaliased fields."""
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                self.add_field_node(selection)
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    self.fragment(selection.type_condition.name.value)
                    if selection.type_condition is not None
                    else self
                )
                target.add_selection_set(selection.selection_set)

    def conflicts(self, node: SelectionSetNode) -> bool:
        """Adding the field set ``node`` would send one field twice with different
        arguments."""
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                key = condition_key(selection)
                name = selection.name.value
                for other_key, other in self.fields.items():
                    if other.name == name and other_key != key:
                        return True
        return False

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

    @staticmethod
    def ast_of_fragments(selection: Selection) -> SelectionSetNode:
        fragments = Selection()
        fragments.fragments = selection.fragments
        return fragments.ast()

    def ast(self) -> SelectionSetNode:
        """The selection as graphql-core AST: what ``render`` prints, without a
        parse (a cold plan would spend most of its time parsing)."""
        nodes: list[SelectionNode] = []
        for key, f in self.fields.items():
            selection_set = None
            if f.selection is not None:
                selection_set = f.selection.ast() if f.selection else _TYPENAME_ONLY
            nodes.append(
                FieldNode(
                    alias=NameNode(value=f.alias) if f.alias else None,
                    name=NameNode(value=f.name if f.alias else key),
                    arguments=f.argument_nodes,
                    directives=(),
                    selection_set=selection_set,
                )
            )
        for type_name, selection in self.fragments.items():
            if selection:
                nodes.append(
                    InlineFragmentNode(
                        type_condition=NamedTypeNode(name=NameNode(value=type_name)),
                        directives=(),
                        selection_set=selection.ast(),
                    )
                )
        return SelectionSetNode(selections=tuple(nodes))

    def __bool__(self) -> bool:
        return bool(self.fields) or any(self.fragments.values())

    def representation(self, optional: bool = False) -> tuple[RepresentationField, ...]:
        """The fields to copy from merged data; those under a type condition are
        copied when the object has them."""
        fields: dict[str, RepresentationField] = {}
        for key, f in self.fields.items():
            sub = f.selection.representation() if f.selection is not None else None
            fields[f.name] = RepresentationField(
                f.name, sub, optional=optional, source=key if key != f.name else None
            )
        for fragment in self.fragments.values():
            for copied in fragment.representation(optional=True):
                fields.setdefault(copied.name, copied)
        return tuple(fields.values())


class FetchStep:
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
        self.selection = Selection()
        self.representations: dict[str, Selection] = {}
        self.variables: set[str] = set()
        self.typename_as: dict[str, str] = {}
        """Object type -> the ``@interfaceObject`` type name to send instead."""
        self.deps: list[FetchStep] = []
        self.children: dict[tuple[str, tuple[str, ...]], FetchStep] = {}

    def entered_with(self, type_name: str, path: tuple[str, ...]) -> frozenset[str]:
        """The plain fields of ``type_name`` this entity step is sent (already in
        the merged data at ``path``)."""
        if not self.entity or path != self.path:
            return frozenset()
        representation = self.representations.get(type_name)
        if representation is None:
            return frozenset()
        return frozenset(
            key
            for key, f in representation.fields.items()
            if f.selection is None and not f.arguments
        )

    def entities_body(self) -> str:
        return "".join(
            f" ... on {t} {s.render()}"
            for t, s in self.selection.fragments.items()
            if s
        )

    def entities_ast(self) -> SelectionSetNode:
        """``entities_body`` as AST: the fragments of the ``_entities`` selection."""
        return Selection.ast_of_fragments(self.selection)

    def requires(
        self,
    ) -> tuple[SelectionSetNode, dict[str, tuple[RepresentationField, ...]]]:
        """The representation selection as sent (an ``@interfaceObject`` subgraph
        sees the interface's name), and the fields to copy by ``__typename``."""
        shown = Selection()
        for t, s in self.representations.items():
            shown.fragments.setdefault(self.typename_as.get(t, t), s)
        requires = shown.ast()
        representation: dict[str, tuple[RepresentationField, ...]] = {}
        for t, s in self.representations.items():
            fields = s.representation()
            if t in self.typename_as:
                fields = tuple(
                    RepresentationField(f.name, value=self.typename_as[t])
                    if f.name == _TYPENAME
                    else f
                    for f in fields
                )
            representation[t] = fields
        return requires, representation


def _operation_name(base: str | None, subgraph: str, number: int) -> str | None:
    if not base:
        return None
    service = re.sub(r"[^_0-9A-Za-z]", "_", subgraph)
    return f"{base}__{service}__{number}"


def render(
    steps: Sequence[FetchStep],
    kind: str,
    base_name: str | None,
    variable_definitions: Sequence[VariableDefinitionNode],
) -> Fetch:
    """One ``Fetch`` for ``steps``: a root step, one entity step, or several entity
    steps to one subgraph merged into one request."""
    first = steps[0]
    used_names: set[str] = set()
    for step in steps:
        used_names |= step.variables
    used = [d for d in variable_definitions if d.variable.name.value in used_names]
    variable_defs = [print_ast(d) for d in used]
    variable_nodes: list[VariableDefinitionNode] = list(used)
    name = _operation_name(base_name, first.subgraph, first.index)
    parts: tuple[EntityPart, ...] = ()
    requires = None
    representation: dict[str, tuple[RepresentationField, ...]] = {}
    if len(steps) > 1:
        kind = "query"
        selections = []
        fields = []
        built = []
        for number, step in enumerate(steps):
            variable = f"representations{number}"
            variable_defs.insert(number, f"${variable}: [_Any!]!")
            variable_nodes.insert(number, _representations_variable(variable))
            alias = f"_{number}"
            selections.append(
                f"{alias}: _entities(representations: ${variable}) "
                "{" + step.entities_body() + " }"
            )
            fields.append(_entities_field(alias, variable, step.entities_ast()))
            part_requires, part_representation = step.requires()
            built.append(
                EntityPart(
                    path=step.path,
                    alias=alias,
                    variable=variable,
                    requires=part_requires,
                    representation=part_representation,
                )
            )
        parts = tuple(built)
        body = "{ " + " ".join(selections) + " }"
        selection_set = SelectionSetNode(selections=tuple(fields))
    elif first.entity:
        kind = "query"
        variable_defs.insert(0, "$representations: [_Any!]!")
        variable_nodes.insert(0, _representations_variable("representations"))
        body = "{ _entities(representations: $representations) {" + (
            first.entities_body() + " } }"
        )
        selection_set = SelectionSetNode(
            selections=(_entities_field(None, "representations", first.entities_ast()),)
        )
        requires, representation = first.requires()
    else:
        body = first.selection.render()
        selection_set = first.selection.ast()
    header = kind
    if name:
        header += f" {name}"
    if variable_defs:
        header += "(" + ", ".join(variable_defs) + ")"
    text = f"{header} {body}"
    document = DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=OperationType(kind),
                name=NameNode(value=name) if name else None,
                variable_definitions=tuple(variable_nodes),
                directives=(),
                selection_set=selection_set,
            ),
        )
    )
    return Fetch(
        subgraph=first.subgraph,
        operation=text,
        document=document,
        operation_kind=kind,  # type: ignore[arg-type]
        operation_name=name,
        variable_usages=tuple(d.variable.name.value for d in used),
        path=() if parts else first.path,
        requires=requires,
        representation=representation,
        parts=parts,
    )
