"""Operation limits: what a document may cost before the gateway validates or runs it.

Checked in the one prepare path (``gateway.operation``), in this order, each refused
with its own ``extensions.code`` and never executed:

========================  ======================  =====================================
limit (``gateway.limits``) code                    what is counted
========================  ======================  =====================================
``max_tokens``            ``MAX_TOKENS_LIMIT``     lexical tokens, comments included
                                                   (graphql-core's parser stops there)
``depth``                 ``MAX_DEPTH_LIMIT``      nested field levels, fragments expanded
``aliases``               ``MAX_ALIASES_LIMIT``    aliased fields, fragments expanded
``root_fields``           ``MAX_ROOT_FIELDS_LIMIT`` fields of an operation's root selection
``total_fields``          ``MAX_TOTAL_FIELDS_LIMIT`` fields of the document, fragments
                                                   expanded
``complexity``            ``MAX_COMPLEXITY_LIMIT`` 1 per field, times the size of every
                                                   list around it
========================  ======================  =====================================

``measure`` runs on the parsed document *before* validation (validation is quadratic in
the worst case, so its input must be bounded first). It expands fragment spreads with
one memo per fragment, so a fragment "bomb" (fragments that spread each other many
times) costs linear work, and it ignores spread cycles (validation refuses them).

``complexity`` needs the schema (which fields are lists) and runs after validation. A
list field's size is its ``first``, ``last`` or ``limit`` argument when one is given
(a literal, or a variable's value), else ``default_list_size``; a list of lists
multiplies both. ``__typename`` and every other field cost 1; ``__schema`` and
``__type`` cost 1 whatever they select (the gateway answers them from its schema,
whose size bounds them; depth and total fields still apply).
See https://spec.graphql.org/October2021/#sec-Validation for why validation comes after
a cheap, bounded pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_interface_type,
    is_object_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from gateway.errors import OperationError

__all__ = [
    "SIZE_ARGUMENTS",
    "DocumentMeasure",
    "OperationLimits",
    "check_document",
    "complexity",
    "is_token_limit_error",
    "measure",
]

SIZE_ARGUMENTS = ("first", "last", "limit")
"""Arguments that say how many items a list field returns."""


@dataclass(frozen=True, slots=True)
class OperationLimits:
    """``gateway.limits``: ``None`` turns a limit off.

    The defaults let any sane operation through (GraphiQL's introspection query is
    under each of them by a wide margin) and refuse the floods of issue 11: 500
    aliases, 60 nested levels, a 4 MB ``__typename`` flood.
    """

    max_tokens: int | None = 15_000
    depth: int | None = 32
    aliases: int | None = 100
    root_fields: int | None = 64
    total_fields: int | None = 2_000
    complexity: int | None = 50_000
    default_list_size: int = 10


@dataclass(frozen=True, slots=True)
class DocumentMeasure:
    """What ``measure`` counted in one document."""

    depth: int
    aliases: int
    root_fields: int
    total_fields: int


def is_token_limit_error(message: str) -> bool:
    """Whether graphql-core's parser stopped at ``max_tokens`` (its message)."""
    return "Document contains more than" in message and message.endswith(
        "tokens. Parsing aborted."
    )


@dataclass(slots=True)
class _Counts:
    depth: int = 0
    aliases: int = 0
    fields: int = 0


class _Measurer:
    """One pass over a document; fragment spreads use one memo per fragment."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, _Counts] = {}
        self.active: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Counts:
        total = _Counts()
        if node is None:
            return total
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                child = self.selection_set(selection.selection_set)
                total.fields += 1 + child.fields
                total.aliases += child.aliases + (selection.alias is not None)
                total.depth = max(total.depth, 1 + child.depth)
            else:
                if isinstance(selection, InlineFragmentNode):
                    child = self.selection_set(selection.selection_set)
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    child = self.fragment(selection.name.value)
                total.fields += child.fields
                total.aliases += child.aliases
                total.depth = max(total.depth, child.depth)
        return total

    def fragment(self, name: str) -> _Counts:
        counts = self.memo.get(name)
        if counts is not None:
            return counts
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return _Counts()  # unknown or cyclic: validation refuses it
        self.active.add(name)
        counts = self.selection_set(definition.selection_set)
        self.active.discard(name)
        self.memo[name] = counts
        return counts

    def root_fields(self, node: SelectionSetNode, seen: set[str]) -> int:
        count = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                count += 1
            elif isinstance(selection, InlineFragmentNode):
                count += self.root_fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                definition = self.fragments.get(name)
                if definition is not None and name not in seen:
                    count += self.root_fields(definition.selection_set, seen | {name})
        return count


def measure(document: DocumentNode) -> DocumentMeasure:
    """Depth, aliases, root fields and total fields of ``document``.

    Operations count with their fragments expanded; a fragment no operation spreads
    counts once more (validation still reads it). Depth and root fields are the
    largest of any operation; aliases and fields are summed over the document.
    """
    measurer = _Measurer(document)
    depth = aliases = root_fields = total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            counts = measurer.selection_set(definition.selection_set)
            depth = max(depth, counts.depth)
            aliases += counts.aliases
            total += counts.fields
            root_fields = max(
                root_fields, measurer.root_fields(definition.selection_set, set())
            )
    for name in measurer.fragments:
        if name not in measurer.memo:  # spread by no operation
            counts = measurer.fragment(name)
            depth = max(depth, counts.depth)
            aliases += counts.aliases
            total += counts.fields
    return DocumentMeasure(depth, aliases, root_fields, total)


def check_document(document: DocumentNode, limits: OperationLimits) -> None:
    """Raise ``OperationError`` for the first limit ``document`` is over."""
    try:
        found = measure(document)
    except RecursionError:
        raise OperationError(
            "the document nests fragments too deeply",
            code="MAX_DEPTH_LIMIT",
        ) from None
    checks = (
        (limits.depth, found.depth, "MAX_DEPTH_LIMIT", "is nested {n} levels deep"),
        (limits.aliases, found.aliases, "MAX_ALIASES_LIMIT", "has {n} aliases"),
        (
            limits.root_fields,
            found.root_fields,
            "MAX_ROOT_FIELDS_LIMIT",
            "selects {n} root fields",
        ),
        (
            limits.total_fields,
            found.total_fields,
            "MAX_TOTAL_FIELDS_LIMIT",
            "selects {n} fields (fragments expanded)",
        ),
    )
    for limit, value, code, what in checks:
        if limit is not None and value > limit:
            raise OperationError(
                f"the operation {what.format(n=value)}; the limit is {limit}",
                code=code,
            )


# -- complexity (after validation: the schema says which fields are lists) ----------


class _Complexity:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
        default_list_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_list_size = default_list_size
        self.memo: dict[str, int] = {}
        self.active: set[str] = set()
        self.uses_variables = False
        """A list size came from a variable: the cost depends on the request."""

    def field_definition(
        self, parent: GraphQLType | None, name: str
    ) -> GraphQLField | None:
        if name == "__schema" and parent is self.schema.query_type:
            return SchemaMetaFieldDef
        if name == "__type" and parent is self.schema.query_type:
            return TypeMetaFieldDef
        if is_object_type(parent) or is_interface_type(parent):
            return parent.fields.get(name)  # type: ignore[union-attr]
        return None

    def size(self, node: FieldNode) -> int:
        for argument in node.arguments:
            if argument.name.value not in SIZE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                self.uses_variables = True
                given = (self.variables or {}).get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(0, given)
        return self.default_list_size

    def selection_set(
        self, parent: GraphQLType | None, node: SelectionSetNode | None
    ) -> int:
        if node is None:
            return 0
        cost = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                cost += 1
                definition = self.field_definition(parent, selection.name.value)
                if definition is None or selection.selection_set is None:
                    continue
                if definition is SchemaMetaFieldDef or definition is TypeMetaFieldDef:
                    continue  # answered from the schema: bounded by it, not by lists
                multiplier = 1
                kind = definition.type
                while isinstance(kind, GraphQLNonNull | GraphQLList):
                    if isinstance(kind, GraphQLList):
                        multiplier *= self.size(selection)
                    kind = kind.of_type
                cost += multiplier * self.selection_set(
                    get_named_type(definition.type), selection.selection_set
                )
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = (
                    self.schema.get_type(condition.name.value) if condition else parent
                )
                cost += self.selection_set(inner, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                cost += self.fragment(selection.name.value)
        return cost

    def fragment(self, name: str) -> int:
        cost = self.memo.get(name)
        if cost is not None:
            return cost
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return 0
        self.active.add(name)
        cost = self.selection_set(
            self.schema.get_type(definition.type_condition.name.value),
            definition.selection_set,
        )
        self.active.discard(name)
        self.memo[name] = cost
        return cost


def complexity(
    schema: GraphQLSchema,
    definition: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    *,
    variables: Mapping[str, Any] | None,
    default_list_size: int,
) -> tuple[int, bool]:
    """The estimated cost of one validated operation, and whether it depends on
    variables (a list size given by one). ``variables=None``: not known yet (the
    default list size stands in)."""
    root: GraphQLObjectType | None = schema.get_root_type(definition.operation)
    walker = _Complexity(schema, fragments, variables, default_list_size)
    cost = walker.selection_set(root, definition.selection_set)
    return cost, walker.uses_variables
