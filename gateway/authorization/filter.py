"""Authorizer: an operation without the fields a token may not see, before planning.

As Apollo Router does it: each field whose requirement (``AccessRules``) the token
does not meet is removed from the operation (a field whose whole selection is
removed goes too), the rest is planned and fetched as usual, and each removed field
is answered ``null`` with an ``UNAUTHORIZED_FIELD_OR_TYPE`` error at its path. The
filtered operation's text is its plan cache key, so requests whose tokens meet the
same requirements share one filtered plan; operations that touch no protected
field are not copied at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    print_ast,
)

from gateway.authentication.identity import Identity
from gateway.authorization.rules import AccessRules
from gateway.caching import LRU
from gateway.errors import UnauthorizedError
from gateway.operation import Operation

__all__ = ["UNAUTHORIZED", "Authorizer", "Restriction"]

UNAUTHORIZED = "UNAUTHORIZED_FIELD_OR_TYPE"


@dataclass(frozen=True, slots=True, eq=False)
class Restriction:
    """An operation as one authorization shape may run it."""

    original: Operation
    operation: Operation | None
    """The filtered operation; ``None`` when nothing of it may run."""
    errors: tuple[Mapping[str, Any], ...]
    """One ``UNAUTHORIZED_FIELD_OR_TYPE`` error per removed field, at its path."""
    decisions: tuple[bool, ...]


_Path = tuple[str, ...]


class _Filter:
    def __init__(
        self,
        schema: GraphQLSchema,
        rules: AccessRules,
        operation: Operation,
        decisions: tuple[bool, ...],
    ) -> None:
        self.schema = schema
        self.rules = rules
        self.operation = operation
        self.allowed = {
            r for r, ok in zip(rules.requirements, decisions, strict=True) if ok
        }
        self.removed: dict[_Path, str] = {}

    def run(self, root: GraphQLObjectType) -> SelectionSetNode | None:
        return self._selection_set(
            self.operation.definition.selection_set, root, (), ()
        )

    def _selection_set(
        self,
        node: SelectionSetNode,
        parent: GraphQLNamedType,
        path: _Path,
        spreads: tuple[str, ...],
    ) -> SelectionSetNode | None:
        kept: list[SelectionNode] = []
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                field = self._field(selection, parent, path, spreads)
                if field is not None:
                    kept.append(field)
                continue
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.operation.fragments.get(name)
                if fragment is None or name in spreads:
                    continue
                condition: NamedTypeNode | None = fragment.type_condition
                inner_node = fragment.selection_set
                directives = selection.directives
                inner_spreads = (*spreads, name)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner_node = selection.selection_set
                directives = selection.directives
                inner_spreads = spreads
            else:
                continue
            inner_type = (
                self.schema.get_type(condition.name.value)
                if condition is not None
                else parent
            )
            if inner_type is None:
                continue
            inner = self._selection_set(inner_node, inner_type, path, inner_spreads)
            if inner is not None:
                kept.append(
                    InlineFragmentNode(
                        type_condition=condition,
                        directives=directives,
                        selection_set=inner,
                    )
                )
        if not kept:
            return None
        return SelectionSetNode(selections=tuple(kept))

    def _field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        path: _Path,
        spreads: tuple[str, ...],
    ) -> FieldNode | None:
        name = node.name.value
        key = node.alias.value if node.alias else name
        here = (*path, key)
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return node
        requirement = self.rules.field(parent.name, name)
        if not requirement.empty and requirement not in self.allowed:
            self.removed.setdefault(here, f"{parent.name}.{name}")
            return None
        if node.selection_set is None:
            return node
        definition = parent.fields.get(name)
        if definition is None:
            return node
        inner = self._selection_set(
            node.selection_set, get_named_type(definition.type), here, spreads
        )
        if inner is None:
            self.removed.setdefault(here, f"{parent.name}.{name}")
            return None
        if inner is node.selection_set:
            return node
        return FieldNode(
            alias=node.alias,
            name=node.name,
            arguments=node.arguments,
            directives=node.directives,
            selection_set=inner,
        )


class Authorizer:
    """Filters operations for the tokens of requests (filtered operations cached by
    (document, operation, authorization shape))."""

    def __init__(
        self, rules: AccessRules, *, reject: bool = False, cache_size: int = 1024
    ) -> None:
        self.rules = rules
        self.schema = rules.schema
        self.reject = reject
        self._cache: LRU[tuple[str, str | None, tuple[bool, ...]], Restriction] = LRU(
            cache_size
        )

    def restrict(
        self, operation: Operation, identity: Identity | None
    ) -> Restriction | None:
        """``None`` when the token may see all of ``operation``; else what of it
        may run. Raises ``UnauthorizedError`` with ``reject`` instead."""
        if not self.rules:
            return None
        decisions = self.rules.decisions(identity)
        if all(decisions):
            return None
        key = (operation.query, operation.name, decisions)
        restriction = self._cache.get(key)
        if restriction is None:
            restriction = self._build(operation, decisions)
            self._cache.put(key, restriction)
        if not restriction.errors:
            return None
        if self.reject:
            raise UnauthorizedError(
                "the operation selects fields the request's token may not see "
                "(gateway.authorization.reject_unauthorized)",
                errors=[dict(e) for e in restriction.errors],
            )
        return restriction

    def _build(self, operation: Operation, decisions: tuple[bool, ...]) -> Restriction:
        root = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }[operation.kind]
        assert root is not None  # the operation was validated against the schema
        walk = _Filter(self.schema, self.rules, operation, decisions)
        selection_set = walk.run(root)
        errors = tuple(
            {
                "message": f"Unauthorized field or type: {coordinate}",
                "path": list(path),
                "extensions": {"code": UNAUTHORIZED},
            }
            for path, coordinate in walk.removed.items()
        )
        if not errors:
            return Restriction(operation, operation, (), decisions)
        if selection_set is None:
            return Restriction(operation, None, errors, decisions)
        definition = operation.definition
        filtered = OperationDefinitionNode(
            operation=definition.operation,
            name=definition.name,
            variable_definitions=definition.variable_definitions,
            directives=definition.directives,
            selection_set=selection_set,
        )
        document = DocumentNode(definitions=(filtered,))
        return Restriction(
            operation,
            Operation(
                document=document,
                definition=filtered,
                kind=operation.kind,
                name=operation.name,
                query=print_ast(document),
                fragments={},
                condition_variables=operation.condition_variables,
            ),
            errors,
            decisions,
        )
