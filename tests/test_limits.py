"""Operation limits (gateway.limits), applied in the one prepare path."""

from __future__ import annotations

import pytest
from graphql import build_schema, get_introspection_query, parse

from gateway.errors import OperationError
from gateway.limits import OperationLimits, measure
from gateway.operation import GraphQLRequest, OperationCache, prepare

SCHEMA = build_schema(
    """
    type Query {
      me: User
      users(first: Int, last: Int): [User!]!
      search(limit: Int): [User]
      matrix: [[User]]
      node(id: ID!): Node
    }
    interface Node { id: ID! }
    type User implements Node {
      id: ID!
      name: String
      friends(first: Int): [User!]!
      best: User
    }
    """
)


def refused(query: str, limits: OperationLimits, **variables: object) -> str:
    """The ``extensions.code`` the query is refused with."""
    cache = OperationCache(SCHEMA, limits=limits)
    with pytest.raises(OperationError) as caught:
        prepare(cache, GraphQLRequest(query, variables=variables or None))
    [error] = caught.value.graphql_errors()
    assert error["extensions"]["code"] == caught.value.code
    assert cache.parse_count == 1
    return caught.value.code


def accepted(query: str, limits: OperationLimits, **variables: object) -> None:
    cache = OperationCache(SCHEMA, limits=limits)
    prepare(cache, GraphQLRequest(query, variables=variables or None))


def nested(levels: int) -> str:
    """A query ``levels`` fields deep."""
    return "{ me { " + "best { " * (levels - 2) + "id" + " }" * (levels - 1) + " }"


# -- measure ------------------------------------------------------------------------


def test_measure_expands_fragments_where_they_are_spread() -> None:
    found = measure(
        parse(
            """
            query { me { ...F } a: me { ...F } }
            fragment F on User { id x: name best { id } }
            """
        )
    )
    # me, a, and F (4 fields: id, x, best, best.id) twice
    assert found.total_fields == 2 + 2 * 4
    assert found.aliases == 1 + 2 * 1
    assert found.depth == 3
    assert found.root_fields == 2


def test_a_fragment_bomb_is_counted_without_expanding_it() -> None:
    # Each fragment spreads the previous one twice: 2**40 fields when expanded.
    lines = ["fragment F0 on User { id }"]
    for i in range(1, 41):
        lines.append(f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}")
    document = parse("{ me { ...F40 } }\n" + "\n".join(lines))
    assert measure(document).total_fields == 1 + 2**40
    assert refused("{ me { ...F40 } }\n" + "\n".join(lines), OperationLimits()) == (
        "MAX_TOTAL_FIELDS_LIMIT"
    )


def test_fragment_cycles_do_not_hang_the_count() -> None:
    document = parse(
        "{ me { ...A } } fragment A on User { id ...B } fragment B on User { ...A }"
    )
    assert measure(document).total_fields == 2
    # validation then refuses the cycle
    assert refused(
        "{ me { ...A } } fragment A on User { id ...B } fragment B on User { ...A }",
        OperationLimits(),
    ) == ("GRAPHQL_VALIDATION_FAILED")


def test_fragments_no_operation_spreads_still_count() -> None:
    found = measure(parse("{ me { id } } fragment F on User { a: id b: id c: id }"))
    assert found.total_fields == 2 + 3 and found.aliases == 3


# -- each limit has its own code ------------------------------------------------------


def test_too_many_tokens_is_refused_by_the_parser() -> None:
    query = "{ " + "me { id } " * 2000 + "}"
    assert refused(query, OperationLimits(max_tokens=1000)) == "MAX_TOKENS_LIMIT"


def test_comments_count_as_tokens() -> None:
    query = "{ me { id } }\n" + "# a comment\n" * 2000
    assert refused(query, OperationLimits(max_tokens=1000)) == "MAX_TOKENS_LIMIT"


def test_depth_over_the_limit_is_refused_and_at_the_limit_accepted() -> None:
    limits = OperationLimits(depth=10)
    accepted(nested(10), limits)
    assert refused(nested(11), limits) == "MAX_DEPTH_LIMIT"


def test_aliases_over_the_limit_are_refused() -> None:
    limits = OperationLimits(aliases=3)
    accepted("{ a: me { id } b: me { id } c: me { id } }", limits)
    query = "{ a: me { id } b: me { id } c: me { id } d: me { id } }"
    assert refused(query, limits) == "MAX_ALIASES_LIMIT"


def test_root_fields_over_the_limit_are_refused_through_fragments_too() -> None:
    limits = OperationLimits(root_fields=2, aliases=None)
    accepted("{ me { id } a: me { id } }", limits)
    query = "{ me { id } ...R } fragment R on Query { a: me { id } b: me { id } }"
    assert refused(query, limits) == "MAX_ROOT_FIELDS_LIMIT"


def test_total_fields_over_the_limit_are_refused() -> None:
    limits = OperationLimits(total_fields=6)
    accepted("{ me { id name best { id name } } }", limits)
    assert (
        refused("{ me { id name best { id name best { id } } } }", limits)
        == "MAX_TOTAL_FIELDS_LIMIT"
    )


def test_list_fields_multiply_the_complexity() -> None:
    limits = OperationLimits(complexity=1000, default_list_size=10)
    # users: 1 + 10 * (id + friends: 1 + 10 * (id + name)) = 1 + 10 * 22 = 221
    accepted("{ users { id friends { id name } } }", limits)
    # one level more: 1 + 10 * (1 + 1 + 10 * (1 + 1 + 10 * 1)) = 1221
    query = "{ users { id friends { id friends { id } } } }"
    assert refused(query, limits) == "MAX_COMPLEXITY_LIMIT"


def test_first_last_and_limit_arguments_set_the_list_size() -> None:
    limits = OperationLimits(complexity=100, default_list_size=1000)
    accepted("{ users(first: 3) { friends(first: 3) { id } } }", limits)
    accepted("{ users(last: 3) { id } search(limit: 5) { id } }", limits)
    assert refused("{ users(first: 200) { id } }", limits) == "MAX_COMPLEXITY_LIMIT"


def test_a_list_size_from_a_variable_is_checked_per_request() -> None:
    limits = OperationLimits(complexity=100)
    query = "query ($n: Int) { users(first: $n) { id } }"
    cache = OperationCache(SCHEMA, limits=limits)
    prepare(cache, GraphQLRequest(query, variables={"n": 5}))
    with pytest.raises(OperationError) as caught:
        prepare(cache, GraphQLRequest(query, variables={"n": 500}))
    assert caught.value.code == "MAX_COMPLEXITY_LIMIT"
    assert cache.parse_count == 1  # the document itself was cached once


def test_lists_of_lists_multiply_by_each_level() -> None:
    limits = OperationLimits(complexity=100, default_list_size=10)
    # matrix: 1 + 10 * 10 * 1 = 101
    assert refused("{ matrix { id } }", limits) == "MAX_COMPLEXITY_LIMIT"


def test_a_disabled_limit_is_not_applied() -> None:
    accepted(nested(40), OperationLimits(depth=None))


# -- defaults -------------------------------------------------------------------------


def test_the_defaults_let_graphiqls_introspection_query_through() -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    accepted(query, OperationLimits())


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(500)) + " }",
            "MAX_ALIASES_LIMIT",
        ),
        (nested(60), "MAX_DEPTH_LIMIT"),
        ("{ " + "__typename " * 1_000_000 + "}", "MAX_TOKENS_LIMIT"),
        ("{ me { " + "__typename " * 10_000 + "} }", "MAX_TOTAL_FIELDS_LIMIT"),
        (
            "{ " + " ".join(f"m{i}: me {{ id }}" for i in range(80)) + " }",
            "MAX_ROOT_FIELDS_LIMIT",
        ),
        (
            "{ users(first: 100) { friends(first: 100) { friends { id } } } }",
            "MAX_COMPLEXITY_LIMIT",
        ),
    ],
    ids=[
        "500 aliases",
        "60 levels",
        "4 MB typename flood",
        "10k fields",
        "80 roots",
        "nested lists",
    ],
)
def test_the_defaults_refuse_the_floods_of_issue_11(query: str, code: str) -> None:
    limits = OperationLimits()
    if code == "MAX_ROOT_FIELDS_LIMIT":
        limits = OperationLimits(aliases=None)
    assert refused(query, limits) == code
