"""gateway.caching.LRU, and what every cache built on it must not keep alive."""

from __future__ import annotations

import gc
import traceback
import weakref

import pytest
from graphql import build_schema

from gateway.caching import LRU
from gateway.errors import OperationError
from gateway.operation import GraphQLRequest, OperationCache, prepare

SCHEMA = build_schema("type Query { hello(name: String!): String }")


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_hits_and_misses_are_counted() -> None:
    cache: LRU[str, int] = LRU(4)
    assert cache.get("a") is None
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_maxsize_zero_stores_nothing() -> None:
    cache: LRU[str, int] = LRU(0)
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0


def test_putting_an_existing_key_replaces_it_without_growing() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert cache.get("a") == 2 and len(cache) == 1


class _Request:
    """Stands for the HTTP request a handler holds while it prepares."""


def _handle(
    operations: OperationCache, request: _Request, query: str, name: str | None
) -> OperationError:
    """What a handler does: prepare while its frame holds the request, and keep
    the error it got to answer with."""
    assert isinstance(request, _Request)
    try:
        prepare(operations, GraphQLRequest(query=query, operation_name=name))
    except OperationError as exc:
        return exc
    raise AssertionError("the bad document was accepted")


@pytest.mark.parametrize(
    "query",
    ["{ hello(name: ) }", "{ goodbye }", 'query A { hello(name: "x") }'],
    ids=["parse error", "validation error", "unknown operation name"],
)
def test_a_cached_bad_document_keeps_no_request_alive(query: str) -> None:
    operations = OperationCache(SCHEMA)
    name = "B" if query.startswith("query A") else None
    first = _handle(operations, _Request(), query, name)
    requests: list[weakref.ref[_Request]] = []
    for _ in range(1000):
        request = _Request()
        requests.append(weakref.ref(request))
        error = _handle(operations, request, query, name)
        assert error.graphql_errors() == first.graphql_errors()
        del request, error  # the handler answered and returned
    last = _handle(operations, _Request(), query, name)
    gc.collect()
    assert operations.parse_count == 1  # the failure was cached
    assert [ref for ref in requests if ref() is not None] == []
    assert len(traceback.extract_tb(last.__traceback__)) <= 3
    assert last is not first  # each request gets its own error
