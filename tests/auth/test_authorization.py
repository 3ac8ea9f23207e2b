"""gateway.authorization: @authenticated/@requiresScopes composed into rules, and
operations filtered for a token before planning."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import print_ast

from gateway.authentication import Identity
from gateway.authorization import AccessRules, Authorizer, Requirement
from gateway.composition import compose
from gateway.composition.supergraph_sdl import load_supergraph
from gateway.config.auth import ScopeRule
from gateway.engine import Engine
from gateway.errors import CompositionError, ConfigError, UnauthorizedError
from gateway.operation import GraphQLRequest
from gateway.transports.inprocess import InProcessTransport
from tests.fixtures.vault import ACCOUNTS_SDL, ORDERS_SDL, accounts, orders

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", '
    'import: ["@key", "@authenticated", "@requiresScopes", "@policy"])\n'
)


def rules_of(*subgraphs: tuple[str, str]) -> AccessRules:
    return AccessRules.from_supergraph(compose(list(subgraphs)))


def who(*scopes: str) -> Identity:
    return Identity({"sub": "u1"}, frozenset(scopes))


def test_requirements_of_several_subgraphs_all_hold() -> None:
    rules = rules_of(
        (
            "a",
            LINK + 'type T @key(fields: "id") { id: ID! x: Int '
            '@requiresScopes(scopes: [["a"], ["b"]]) @shareable }\n'
            "type Query { t: T }",
        ),
        (
            "b",
            LINK + 'type T @key(fields: "id") { id: ID! x: Int '
            '@requiresScopes(scopes: [["c"]]) @shareable }',
        ),
    )
    requirement = rules.field("T", "x")
    assert requirement == Requirement(
        True, (frozenset({"a", "c"}), frozenset({"b", "c"}))
    )
    assert requirement.allows(who("a", "c"))
    assert not requirement.allows(who("a", "b"))
    assert not requirement.allows(None)
    assert rules.field("T", "id").empty


def test_a_type_marked_authenticated_protects_the_fields_returning_it() -> None:
    rules = rules_of(
        (
            "a",
            LINK + "type Secret @authenticated { v: Int }\n"
            "interface Node { id: ID! }\n"
            "type Doc implements Node { id: ID! @authenticated }\n"
            "type Query { secret: Secret open: Int node: Node }",
        ),
    )
    assert rules.field("Query", "secret") == Requirement(authenticated=True)
    assert rules.field("Query", "open").empty
    # An interface field carries what its implementations' fields require.
    assert rules.field("Node", "id") == Requirement(authenticated=True)
    assert rules.field("Query", "secret").allows(who())


def test_policy_is_refused_with_a_clear_word() -> None:
    with pytest.raises(CompositionError) as info:
        rules_of(("a", LINK + 'type Query { x: Int @policy(policies: [["p"]]) }'))
    issue = info.value.issues[0]
    assert issue.code == "POLICY_UNSUPPORTED"
    assert "Query.x" in issue.message and "no policy engine" in issue.message


def test_a_supergraph_sdl_carries_the_directives() -> None:
    sdl = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)
  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)
{ query: Query }
directive @join__field(graph: join__Graph, requires: join__FieldSet,
  provides: join__FieldSet, type: String, external: Boolean, override: String,
  usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__type(graph: join__Graph!, key: join__FieldSet,
  extension: Boolean! = false, resolvable: Boolean! = true,
  isInterfaceObject: Boolean! = false)
  repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @link(url: String, as: String, for: link__Purpose,
  import: [link__Import]) repeatable on SCHEMA
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!)
  on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
scalar join__FieldSet
scalar link__Import
scalar requiresScopes__Scope
enum link__Purpose { SECURITY EXECUTION }
enum join__Graph {
  A @join__graph(name: "a", url: "http://127.0.0.1:4001/graphql")
}
type Query @join__type(graph: A) {
  open: Int
  me: String @authenticated
  salary: Int @requiresScopes(scopes: [["hr:read"]])
}
"""
    rules = AccessRules.from_supergraph(load_supergraph(sdl))
    assert rules.field("Query", "me") == Requirement(authenticated=True)
    assert rules.field("Query", "salary") == Requirement(
        True, (frozenset({"hr:read"}),)
    )
    assert rules.field("Query", "open").empty


def vault_rules() -> AccessRules:
    return rules_of(("accounts", ACCOUNTS_SDL), ("orders", ORDERS_SDL))


def filtered(query: str, identity: Identity | None) -> tuple[str | None, list[Any]]:
    engine = vault_engine()
    prepared = engine.prepare(GraphQLRequest(query), identity)
    restriction = prepared.restriction
    if restriction is None:
        return query, []
    text = restriction.operation.query if restriction.operation else None
    return text, [e["path"] for e in restriction.errors]


def vault_engine(reject: bool = False) -> Engine:
    supergraph = compose([("accounts", ACCOUNTS_SDL), ("orders", ORDERS_SDL)])
    transports = {
        "accounts": InProcessTransport("accounts", accounts({})),
        "orders": InProcessTransport("orders", orders({})),
    }
    return Engine(
        supergraph,
        transports,
        authorizer=Authorizer(AccessRules.from_supergraph(supergraph), reject=reject),
    )


def test_unauthorized_fields_are_removed_through_fragments_and_reported_once() -> None:
    text, paths = filtered(
        "query Q { users { ...U ... on User { salary } } }"
        " fragment U on User { id e: email salary }",
        None,
    )
    assert text is not None
    assert "salary" not in text and "email" not in text and "fragment" not in text
    assert "id" in text
    assert paths == [["users", "e"], ["users", "salary"]]


def test_a_field_whose_whole_selection_is_removed_goes_too() -> None:
    text, paths = filtered("{ users { email } seenUserId }", None)
    assert text is not None and "users" not in text and "seenUserId" in text
    assert paths == [["users", "email"], ["users"]]
    text, paths = filtered("{ me { name } }", None)
    assert text is None and paths == [["me"]]


def test_an_operation_the_token_may_see_whole_is_not_copied() -> None:
    engine = vault_engine()
    prepared = engine.prepare(
        GraphQLRequest("{ users { email salary } }"), who("hr:read")
    )
    assert prepared.restriction is None
    prepared = engine.prepare(GraphQLRequest("{ users { name } }"), None)
    assert prepared.restriction is None


async def test_removed_fields_are_null_with_errors_and_the_rest_is_served() -> None:
    engine = vault_engine()
    prepared = engine.prepare(
        GraphQLRequest("{ users { name salary orders { total } } me { name } }"),
        who("orders:read"),
    )
    body = await engine.execute(prepared)
    assert body["data"] == {
        "users": [
            {"name": "Ada", "salary": None, "orders": [{"total": 42}]},
            {"name": "Bob", "salary": None, "orders": [{"total": 42}]},
        ],
        "me": None,  # the in-process resolver found no claims in the context
    }
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["users", "salary"], "UNAUTHORIZED_FIELD_OR_TYPE")
    ]


async def test_plans_are_shared_by_tokens_that_meet_the_same_requirements() -> None:
    engine = vault_engine()
    query = GraphQLRequest("{ users { name salary email } }")
    first = engine.plan_for(engine.prepare(query, who("x")))
    second = engine.plan_for(engine.prepare(query, who("y", "z")))
    assert first is second
    third = engine.plan_for(engine.prepare(query, who("hr:read")))
    assert third is not first and not third.errors
    anonymous = engine.plan_for(engine.prepare(query, None))
    assert [e["path"] for e in anonymous.errors] == [
        ["users", "salary"],
        ["users", "email"],
    ]


def test_reject_mode_raises_with_every_unauthorized_path() -> None:
    engine = vault_engine(reject=True)
    with pytest.raises(UnauthorizedError) as info:
        engine.prepare(GraphQLRequest("{ users { salary email } }"), who())
    assert info.value.status == 403
    assert [e["path"] for e in info.value.graphql_errors()] == [["users", "salary"]]


def test_the_filtered_operation_prints_as_valid_graphql() -> None:
    engine = vault_engine()
    prepared = engine.prepare(
        GraphQLRequest(
            "query Q($skip: Boolean!) { users { name @skip(if: $skip) salary } }",
            variables={"skip": False},
        ),
        None,
    )
    assert prepared.restriction is not None
    operation = prepared.restriction.operation
    assert operation is not None
    assert print_ast(operation.document) == operation.query
    assert "$skip" in operation.query


def test_configured_scopes_close_the_claude_subgraphs_mutations() -> None:
    from subgraphs.claude import SDL as CLAUDE_SDL

    supergraph = compose([("claude", CLAUDE_SDL), ("accounts", ACCOUNTS_SDL)])
    rule = ScopeRule("claude", "Mutation", "*", (frozenset({"claude:run"}),))
    rules = AccessRules.from_supergraph(supergraph, [rule])
    mutation = supergraph.schema.mutation_type
    assert mutation is not None and mutation.fields
    for name in mutation.fields:
        assert rules.field("Mutation", name) == Requirement(
            True, (frozenset({"claude:run"}),)
        ), name
    assert rules.field("Query", "users").empty
    with pytest.raises(ConfigError, match="names no field"):
        AccessRules.from_supergraph(
            supergraph, [ScopeRule("accounts", "Mutation", "*", (frozenset(),))]
        )
    with pytest.raises(ConfigError, match="no subgraph named 'nope'"):
        AccessRules.from_supergraph(
            supergraph, [ScopeRule("nope", "Query", "users", (frozenset(),))]
        )
