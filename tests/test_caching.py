"""gateway.caching.LRU, and what every cache built on it must not keep alive."""

from __future__ import annotations

import gc
import traceback
import tracemalloc
import weakref
from collections.abc import Callable

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


# -- bounded by bytes -------------------------------------------------------------------


def test_entries_are_dropped_to_stay_within_the_byte_budget() -> None:
    cache: LRU[str, int] = LRU(100, max_bytes=1000, max_entry_bytes=1000)
    for key in "abcde":
        cache.put(key, 0, 300)
    assert cache.bytes <= 1000 and len(cache) == 3
    assert "a" not in cache and "b" not in cache and "e" in cache


def test_an_entry_above_the_entry_size_is_not_cached() -> None:
    cache: LRU[str, int] = LRU(100, max_bytes=8000)  # entries up to 1000 bytes
    cache.put("small", 1, 1000)
    cache.put("huge", 2, 1001)
    assert "small" in cache and "huge" not in cache
    assert cache.skipped == 1 and cache.bytes == 1000


def test_replacing_an_entry_counts_its_bytes_once() -> None:
    cache: LRU[str, int] = LRU(100, max_bytes=1000, max_entry_bytes=1000)
    cache.put("a", 1, 400)
    cache.put("a", 2, 500)
    assert cache.bytes == 500 and cache.get("a") == 2


def _traced_growth(action: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "query",
    [
        "{ hello(name: ) " + "x " * 20_000 + "}",  # a parse error, 40 KB
        "{ " + " ".join(f"a{i}: goodbye" for i in range(300)) + " }",  # validation
        "{ hello(name: " + '"x" ' * 10_000 + ") }",  # 40 KB, a parse error too
    ],
    ids=["parse error", "validation error", "long parse error"],
)
def test_a_thousand_repeats_of_a_bad_document_do_not_grow_memory(query: str) -> None:
    operations = OperationCache(SCHEMA)
    for _ in range(10):  # warm up: the failure is cached
        _handle(operations, _Request(), query, None)

    def repeat() -> None:
        for _ in range(1000):
            _handle(operations, _Request(), query, None)

    growth = _traced_growth(repeat)
    assert operations.parse_count == 1
    assert growth < 64 * 1024, f"{growth} bytes kept after 1000 repeats"


def test_a_failure_is_cached_by_hash_not_by_its_text() -> None:
    operations = OperationCache(SCHEMA)
    query = "{ hello(name: ) " + "x " * 200_000 + "}"  # 400 KB of text
    _handle(operations, _Request(), query, None)
    assert operations.entries.bytes < 4096  # the error payload only
    [key] = list(operations.entries._entries)
    assert all(not isinstance(part, str) or len(part) < 100 for part in key)


def test_distinct_large_documents_stay_within_the_byte_budget() -> None:
    budget = 1024 * 1024
    operations = OperationCache(SCHEMA, max_bytes=budget)

    def flood() -> None:
        for i in range(60):
            fields = " ".join(f'a{j}: hello(name: "{i}")' for j in range(20))
            prepare(operations, GraphQLRequest(query="{ " + fields + " }"))

    growth = _traced_growth(flood)
    assert operations.parse_count == 60
    assert operations.entries.skipped == 0 and len(operations.entries) < 60
    assert operations.entries.bytes <= budget
    assert growth < 2 * budget, f"{growth} bytes kept for a {budget}-byte budget"
