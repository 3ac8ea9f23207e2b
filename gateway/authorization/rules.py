"""AccessRules: what each field and type of the supergraph requires of a token.

Composition of the Federation 2.5 directives, as Apollo's composition does it: a
field or type marked ``@authenticated`` in any subgraph requires a token;
``@requiresScopes(scopes: [[a, b], [c]])`` means "a and b, or c", and the
requirements of several subgraphs all hold (their alternatives are multiplied out).
A field also carries the requirements of the type it returns (and, for an abstract
type, of its possible types); a field of an interface those of the same field in
every implementation. ``@policy`` is refused: the gateway has no policy engine,
and serving such a field without one would open it.

See https://www.apollographql.com/docs/graphos/routing/security/authorization
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from graphql import (
    DirectiveNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    ListValueNode,
    StringValueNode,
    get_named_type,
    parse,
)
from graphql.error import GraphQLSyntaxError

from gateway.authentication.identity import Identity
from gateway.composition.normalise import directive_names_of, read_link
from gateway.config.auth import ScopeRule
from gateway.errors import CompositionError, CompositionIssue, ConfigError
from gateway.supergraph import Supergraph

__all__ = ["AccessRules", "Requirement"]

_Scopes = tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a token must have: ``authenticated``, and (when ``scopes`` is not
    ``None``) every scope of at least one of the ``scopes`` sets."""

    authenticated: bool = False
    scopes: _Scopes | None = None

    @property
    def empty(self) -> bool:
        return not self.authenticated and self.scopes is None

    def both(self, other: Requirement) -> Requirement:
        """This requirement and ``other``."""
        if other.empty:
            return self
        if self.empty:
            return other
        scopes: _Scopes | None
        if self.scopes is None:
            scopes = other.scopes
        elif other.scopes is None:
            scopes = self.scopes
        else:
            product = {a | b for a, b in itertools.product(self.scopes, other.scopes)}
            scopes = _minimal(product)
        return Requirement(self.authenticated or other.authenticated, scopes)

    def allows(self, identity: Identity | None) -> bool:
        if self.empty:
            return True
        if identity is None:
            return False
        if self.scopes is None:
            return True
        return any(needed <= identity.scopes for needed in self.scopes)


def _minimal(sets: Iterable[frozenset[str]]) -> _Scopes:
    """The sets none of which holds another (``{a} or {a, b}`` is ``{a}``), sorted."""
    unique = sorted(set(sets), key=lambda s: (len(s), sorted(s)))
    kept: list[frozenset[str]] = []
    for candidate in unique:
        if not any(k <= candidate for k in kept):
            kept.append(candidate)
    return tuple(kept)


_NONE = Requirement()
_DIRECTIVES = ("authenticated", "requiresScopes", "policy")


class AccessRules:
    """The requirement of each field (``Type.field``) of the client schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fields: Mapping[tuple[str, str], Requirement],
        types: Mapping[str, Requirement],
    ) -> None:
        self.schema = schema
        self._own_fields = dict(fields)
        self._own_types = dict(types)
        self._effective: dict[tuple[str, str], Requirement] = {}
        self.requirements: tuple[Requirement, ...] = ()
        """Every distinct non-empty requirement a field can have: whether a token
        meets each of them is all the filtering depends on."""
        self._compute()

    def __bool__(self) -> bool:
        return bool(self.requirements)

    @classmethod
    def from_supergraph(
        cls, supergraph: Supergraph, extra: Sequence[ScopeRule] = ()
    ) -> AccessRules:
        """The rules the subgraphs' directives say, and ``extra`` ones
        (``gateway.authorization.requires_scopes``). Raises ``CompositionError``
        for ``@policy``, ``ConfigError`` for an extra rule naming nothing."""
        fields: dict[tuple[str, str], Requirement] = {}
        types: dict[str, Requirement] = {}
        issues: list[CompositionIssue] = []
        for name, info in supergraph.subgraphs.items():
            try:
                names = directive_names_of(read_link(parse(info.sdl)))
            except GraphQLSyntaxError:
                continue  # composition reported it
            local = {
                local: canonical
                for local, canonical in names.items()
                if canonical in _DIRECTIVES
            }
            if not local:
                continue
            for type_name, named in info.schema.type_map.items():
                if type_name.startswith("__"):
                    continue
                for node in _nodes(named):
                    found = _requirement(
                        getattr(node, "directives", None),
                        local,
                        issues,
                        name,
                        type_name,
                    )
                    if found is not None:
                        types[type_name] = types.get(type_name, _NONE).both(found)
                if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
                    for field_name, field in named.fields.items():
                        if field.ast_node is None:
                            continue
                        coordinate = f"{type_name}.{field_name}"
                        found = _requirement(
                            field.ast_node.directives, local, issues, name, coordinate
                        )
                        if found is not None:
                            key = (type_name, field_name)
                            fields[key] = fields.get(key, _NONE).both(found)
        if issues:
            raise CompositionError(issues)
        for rule in extra:
            for key in _coordinates(supergraph, rule):
                found = Requirement(True, _minimal(rule.scopes))
                fields[key] = fields.get(key, _NONE).both(found)
        return cls(supergraph.schema, fields, types)

    def _compute(self) -> None:
        distinct: dict[Requirement, None] = {}
        for type_name, named in self.schema.type_map.items():
            if type_name.startswith("__") or not isinstance(
                named, GraphQLObjectType | GraphQLInterfaceType
            ):
                continue
            for field_name in named.fields:
                requirement = self._field(named, field_name)
                if not requirement.empty:
                    self._effective[(type_name, field_name)] = requirement
                    distinct[requirement] = None
        self.requirements = tuple(distinct)

    def _type(self, named: GraphQLNamedType) -> Requirement:
        requirement = self._own_types.get(named.name, _NONE)
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            for possible in self.schema.get_possible_types(named):
                requirement = requirement.both(
                    self._own_types.get(possible.name, _NONE)
                )
        return requirement

    def _field(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, field_name: str
    ) -> Requirement:
        requirement = self._own_fields.get((parent.name, field_name), _NONE)
        requirement = requirement.both(
            self._type(get_named_type(parent.fields[field_name].type))
        )
        if isinstance(parent, GraphQLInterfaceType):
            for possible in self.schema.get_possible_types(parent):
                if field_name in possible.fields:
                    requirement = requirement.both(
                        self._own_fields.get((possible.name, field_name), _NONE)
                    )
        return requirement

    def field(self, type_name: str, field_name: str) -> Requirement:
        """The requirement to select ``type_name.field_name`` (empty: none)."""
        return self._effective.get((type_name, field_name), _NONE)

    def decisions(self, identity: Identity | None) -> tuple[bool, ...]:
        """Whether ``identity`` meets each of ``requirements``: requests with the
        same decisions see the same fields (and share filtered plans)."""
        return tuple(r.allows(identity) for r in self.requirements)


def _coordinates(supergraph: Supergraph, rule: ScopeRule) -> list[tuple[str, str]]:
    """The fields a configured rule names; ``ConfigError`` when none."""
    where = f"{rule.subgraph}:" if rule.subgraph else ""
    named = f"{where}{rule.type_name}.{rule.field_name}"
    typedef = supergraph.types.get(rule.type_name)
    if rule.subgraph is not None and rule.subgraph not in supergraph.subgraphs:
        raise ConfigError(
            f"no subgraph named {rule.subgraph!r}",
            key_path=f"gateway.authorization.requires_scopes.{named}",
        )
    found = [
        (rule.type_name, name)
        for name, field in (typedef.fields.items() if typedef else ())
        if rule.field_name in ("*", name)
        and (rule.subgraph is None or rule.subgraph in field.subgraphs)
    ]
    if not found:
        raise ConfigError(
            "names no field of the supergraph",
            key_path=f"gateway.authorization.requires_scopes.{named}",
        )
    return found


def _nodes(named: GraphQLNamedType) -> Iterator[object]:
    for node in (named.ast_node, *named.extension_ast_nodes):
        if node is not None:
            yield node


def _requirement(
    directives: Iterable[DirectiveNode] | None,
    local: Mapping[str, str],
    issues: list[CompositionIssue],
    subgraph: str,
    coordinate: str,
) -> Requirement | None:
    found: Requirement | None = None
    for directive in directives or ():
        canonical = local.get(directive.name.value)
        if canonical is None:
            continue
        if canonical == "policy":
            issues.append(
                CompositionIssue(
                    "POLICY_UNSUPPORTED",
                    f"@policy on {coordinate}: the gateway has no policy engine "
                    "(Apollo's coprocessor); use @requiresScopes, or remove it",
                    (subgraph,),
                )
            )
            continue
        requirement = Requirement(authenticated=True)
        if canonical == "requiresScopes":
            requirement = Requirement(True, _scopes_argument(directive))
        found = requirement if found is None else found.both(requirement)
    return found


def _scopes_argument(directive: DirectiveNode) -> _Scopes:
    sets: list[frozenset[str]] = []
    for argument in directive.arguments or ():
        if argument.name.value != "scopes" or not isinstance(
            argument.value, ListValueNode
        ):
            continue
        for inner in argument.value.values:
            values = inner.values if isinstance(inner, ListValueNode) else (inner,)
            sets.append(
                frozenset(v.value for v in values if isinstance(v, StringValueNode))
            )
    return _minimal(sets)
