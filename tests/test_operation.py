"""OperationCache, operation selection and variable coercion."""

from __future__ import annotations

import pytest
from graphql import build_schema

from gateway.errors import BadRequestError, OperationError
from gateway.operation import OperationCache, coerce_variables

SCHEMA = build_schema(
    """
    type Query { product(upc: String!): Product  products(first: Int = 5): [Product] }
    type Mutation { rename(upc: String!, name: String!): Product }
    type Subscription { priceChanged: Product }
    type Product { upc: String! name: String price: Int }
    input Filter { min: Int! }
    """
)


def test_parse_failure_is_graphql_parse_failed_with_location() -> None:
    cache = OperationCache(SCHEMA)
    with pytest.raises(OperationError) as caught:
        cache.get("{ product(upc: ) }")
    assert caught.value.code == "GRAPHQL_PARSE_FAILED"
    [error] = caught.value.graphql_errors()
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["locations"] == [{"line": 1, "column": 16}]


def test_every_validation_error_is_returned_with_locations() -> None:
    cache = OperationCache(SCHEMA)
    with pytest.raises(OperationError) as caught:
        cache.get("{ product { nme } products(last: 1) { upc } }")
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"
    assert caught.value.status == 400
    errors = caught.value.graphql_errors()
    assert len(errors) == 3  # unknown field, unknown argument, missing upc argument
    assert all(e["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" for e in errors)
    assert all(e["locations"] for e in errors)


def test_several_operations_without_a_name_need_operation_name() -> None:
    cache = OperationCache(SCHEMA)
    document = "query A { products { upc } } query B { products { name } }"
    with pytest.raises(OperationError) as caught:
        cache.get(document)
    assert caught.value.code == "OPERATION_NAME_REQUIRED"
    assert cache.get(document, "B").name == "B"


def test_unknown_operation_name_is_operation_not_found() -> None:
    cache = OperationCache(SCHEMA)
    with pytest.raises(OperationError) as caught:
        cache.get("query A { products { upc } }", "C")
    assert caught.value.code == "OPERATION_NOT_FOUND"


def test_missing_query_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError):
        OperationCache(SCHEMA).get(None)


def test_operation_kind_and_name() -> None:
    cache = OperationCache(SCHEMA)
    assert cache.get("{ products { upc } }").kind == "query"
    mutation = cache.get('mutation Rename { rename(upc: "1", name: "x") { upc } }')
    assert (mutation.kind, mutation.name) == ("mutation", "Rename")
    assert cache.get("subscription { priceChanged { upc } }").kind == "subscription"


def test_a_repeated_document_is_parsed_and_validated_once() -> None:
    cache = OperationCache(SCHEMA)
    first = cache.get("{ products { upc } }")
    second = cache.get("{ products { upc } }")
    assert first is second
    assert cache.parse_count == 1


def test_a_repeated_bad_document_is_not_parsed_again() -> None:
    cache = OperationCache(SCHEMA)
    for _ in range(3):
        with pytest.raises(OperationError):
            cache.get("{ nope }")
    assert cache.parse_count == 1


def test_least_recently_used_documents_are_evicted() -> None:
    cache = OperationCache(SCHEMA, maxsize=2)
    cache.get("{ products { upc } }")
    cache.get("{ products { name } }")
    cache.get("{ products { upc } }")  # most recent now
    cache.get("{ products { price } }")  # evicts { name }
    assert cache.parse_count == 3
    cache.get("{ products { upc } }")
    assert cache.parse_count == 3
    cache.get("{ products { name } }")
    assert cache.parse_count == 4


def test_condition_variables_are_collected_from_fragments_too() -> None:
    operation = OperationCache(SCHEMA).get(
        """
        query ($a: Boolean!, $b: Boolean!, $first: Int) {
          products(first: $first) @include(if: $a) { ...F }
        }
        fragment F on Product { name @skip(if: $b) }
        """
    )
    assert operation.condition_variables == ("a", "b")


def test_variables_are_coerced_with_defaults() -> None:
    operation = OperationCache(SCHEMA).get(
        "query ($first: Int = 3, $upc: String!) { products(first: $first) { upc } "
        "product(upc: $upc) { upc } }"
    )
    assert coerce_variables(SCHEMA, operation, {"upc": "1"}) == {"first": 3, "upc": "1"}


@pytest.mark.parametrize(
    "variables",
    [{}, {"upc": 1}, {"upc": None}],
    ids=["missing", "wrong type", "null for non-null"],
)
def test_bad_variables_are_bad_user_input(variables: dict[str, object]) -> None:
    operation = OperationCache(SCHEMA).get(
        "query ($upc: String!) { product(upc: $upc) { upc } }"
    )
    with pytest.raises(OperationError) as caught:
        coerce_variables(SCHEMA, operation, variables)
    assert caught.value.code == "BAD_USER_INPUT"
    assert caught.value.graphql_errors()[0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_variables_that_are_not_an_object_are_a_bad_request() -> None:
    operation = OperationCache(SCHEMA).get("{ products { upc } }")
    with pytest.raises(BadRequestError):
        coerce_variables(SCHEMA, operation, ["x"])  # type: ignore[arg-type]
