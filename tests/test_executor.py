"""Executor: batching, merging, error paths and null propagation, with fake subgraphs."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from gateway.errors import SubgraphError, SubgraphUnreachableError
from gateway.execution import Executor, merge
from gateway.execution.merge import Ownership, collect
from gateway.operation import OperationCache, coerce_variables
from gateway.planner import QueryPlanner
from gateway.planner.nodes import Flatten, Sequence
from gateway.supergraph import Supergraph
from gateway.transports.base import SubgraphRequest, SubgraphResult
from tests.scenarios.handmade import build_supergraph

CATALOG = """
type Query { shelf: [Item]  one: Item  items: [Item!]! }
type Item @key(fields: "id") { id: ID! kind: String }
"""
DETAILS = """
type Item @key(fields: "id") { id: ID! name: String!  note: String  tags: [String] }
"""

Answer = Callable[[SubgraphRequest], SubgraphResult]


class FakeTransport:
    """A subgraph answering with a function; records every request."""

    def __init__(self, name: str, answer: Answer) -> None:
        self.name = name
        self.answer = answer
        self.requests: list[SubgraphRequest] = []

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        self.requests.append(request)
        return self.answer(request)

    def subscribe(self, request: SubgraphRequest) -> Any:
        raise NotImplementedError


@pytest.fixture(scope="module")
def supergraph() -> Supergraph:
    return build_supergraph({"catalog": CATALOG, "details": DETAILS})


def entities(fn: Callable[[dict[str, Any]], Any]) -> Answer:
    def answer(request: SubgraphRequest) -> SubgraphResult:
        reps = request.variables["representations"]
        return {"data": {"_entities": [fn(rep) for rep in reps]}}

    return answer


def named(rep: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"item {rep['id']}"}


async def run(
    supergraph: Supergraph,
    query: str,
    catalog: Answer,
    details: Answer,
    variables: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], FakeTransport, FakeTransport]:
    operation = OperationCache(supergraph.schema).get(query)
    coerced = coerce_variables(supergraph.schema, operation, variables)
    query_plan = QueryPlanner(supergraph).plan(operation, coerced)
    transports = {
        "catalog": FakeTransport("catalog", catalog),
        "details": FakeTransport("details", details),
    }
    body = await Executor(supergraph.schema, transports).execute(query_plan, coerced)
    return body, transports["catalog"], transports["details"]


def shelf(*ids: str | None) -> Answer:
    items = [None if i is None else {"__typename": "Item", "id": i} for i in ids]
    return lambda _: {"data": {"shelf": items}}


async def test_all_representations_at_a_path_go_in_one_deduplicated_request(
    supergraph: Supergraph,
) -> None:
    body, _, details = await run(
        supergraph,
        "{ shelf { id name } }",
        shelf("1", "2", "1", None, "2"),
        entities(named),
    )
    assert len(details.requests) == 1
    assert details.requests[0].variables["representations"] == [
        {"__typename": "Item", "id": "1"},
        {"__typename": "Item", "id": "2"},
    ]
    assert body == {
        "data": {
            "shelf": [
                {"id": "1", "name": "item 1"},
                {"id": "2", "name": "item 2"},
                {"id": "1", "name": "item 1"},
                None,
                {"id": "2", "name": "item 2"},
            ]
        }
    }


async def test_no_entities_means_no_entity_request(supergraph: Supergraph) -> None:
    body, _, details = await run(
        supergraph, "{ shelf { name } }", shelf(None), entities(named)
    )
    assert details.requests == []
    assert body == {"data": {"shelf": [None]}}


async def test_response_follows_the_client_field_order_and_aliases(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ shelf { title: name __typename ref: id } }",
        lambda _: {"data": {"shelf": [{"ref": "7", "__typename": "Item", "id": "7"}]}},
        entities(lambda rep: {"title": "seven"}),
    )
    assert list(body["data"]["shelf"][0].items()) == [
        ("title", "seven"),
        ("__typename", "Item"),
        ("ref", "7"),
    ]


async def test_entity_errors_are_repathed_to_the_client_path(
    supergraph: Supergraph,
) -> None:
    def details(request: SubgraphRequest) -> SubgraphResult:
        return {
            "data": {"_entities": [{"note": "a"}, {"note": None}]},
            "errors": [
                {
                    "message": "note failed",
                    "path": ["_entities", 1, "note"],
                    "locations": [{"line": 1, "column": 80}],
                }
            ],
        }

    body, _, _ = await run(
        supergraph, "{ shelf { note } }", shelf("1", "2", "2"), details
    )
    assert body["data"] == {"shelf": [{"note": "a"}, {"note": None}, {"note": None}]}
    assert body["errors"] == [
        {
            "message": "note failed",
            "path": ["shelf", 1, "note"],
            "extensions": {
                "code": "DOWNSTREAM_SERVICE_ERROR",
                "serviceName": "details",
            },
        },
        {
            "message": "note failed",
            "path": ["shelf", 2, "note"],
            "extensions": {
                "code": "DOWNSTREAM_SERVICE_ERROR",
                "serviceName": "details",
            },
        },
    ]


async def test_a_failing_transport_is_an_error_at_the_fetch_path_and_data_is_kept(
    supergraph: Supergraph,
) -> None:
    def down(request: SubgraphRequest) -> SubgraphResult:
        raise SubgraphUnreachableError("connection refused", service="details")

    body, _, _ = await run(supergraph, "{ shelf { kind note } }", shelf("1"), down)
    assert body == {
        "data": {"shelf": [{"kind": None, "note": None}]},
        "errors": [
            {
                "message": "connection refused",
                "path": ["shelf", 0],
                "extensions": {
                    "code": "SUBGRAPH_UNREACHABLE",
                    "serviceName": "details",
                },
            }
        ],
    }


async def test_a_failing_root_fetch_is_an_error_per_root_field(
    supergraph: Supergraph,
) -> None:
    def down(request: SubgraphRequest) -> SubgraphResult:
        raise SubgraphError(
            "boom", service="catalog", code="SUBGRAPH_HTTP_ERROR", status=502
        )

    body, _, _ = await run(supergraph, "{ a: one { id } shelf { id } }", down, down)
    assert body["data"] == {"a": None, "shelf": None}
    assert [e["path"] for e in body["errors"]] == [["a"], ["shelf"]]
    assert body["errors"][0]["extensions"] == {
        "code": "SUBGRAPH_HTTP_ERROR",
        "serviceName": "catalog",
        "http": {"status": 502},
    }


async def test_a_transport_bug_does_not_fail_the_request(
    supergraph: Supergraph,
) -> None:
    def broken(request: SubgraphRequest) -> SubgraphResult:
        raise RuntimeError("oops")

    body, _, _ = await run(supergraph, "{ shelf { id name } }", shelf("1"), broken)
    assert body["data"] == {"shelf": [None]}
    assert body["errors"][0]["extensions"]["serviceName"] == "details"


async def test_null_for_a_non_null_field_nulls_the_nearest_nullable_parent(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ shelf { id name } }",
        shelf("1", "2"),
        entities(lambda rep: None if rep["id"] == "2" else named(rep)),
    )
    assert body["data"] == {"shelf": [{"id": "1", "name": "item 1"}, None]}
    assert body["errors"] == [
        {
            "message": "Cannot return null for non-null field Item.name.",
            "path": ["shelf", 1, "name"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]


async def test_null_propagates_through_non_null_lists_up_to_data(
    supergraph: Supergraph,
) -> None:
    items = lambda _: {"data": {"items": [{"__typename": "Item", "id": "1"}]}}  # noqa: E731
    body, _, _ = await run(
        supergraph, "{ items { name } }", items, entities(lambda rep: None)
    )
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["items", 0, "name"]


async def test_an_unknown_typename_is_an_error_not_a_crash() -> None:
    graph = build_supergraph(
        {
            "a": "type Query { pets: [Pet] } interface Pet { name: String } "
            "type Cat implements Pet { name: String }",
        }
    )
    operation = OperationCache(graph.schema).get("{ pets { name } }")
    query_plan = QueryPlanner(graph).plan(operation)
    answer = lambda _: {  # noqa: E731
        "data": {"pets": [{"__typename": "Cat", "name": "Tom"}, {"__typename": "Dog"}]}
    }
    body = await Executor(graph.schema, {"a": FakeTransport("a", answer)}).execute(
        query_plan, {}
    )
    assert body["data"] == {"pets": [{"name": "Tom"}, None]}
    assert body["errors"][0]["path"] == ["pets", 1]
    assert body["errors"][0]["extensions"]["code"] == "SUBGRAPH_BAD_RESPONSE"


async def test_a_wrong_number_of_entities_is_a_bad_response(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ shelf { name } }",
        shelf("1", "2"),
        lambda _: {"data": {"_entities": [{"name": "only one"}]}},
    )
    assert body["data"] == {"shelf": [None, None]}
    assert body["errors"][0]["extensions"]["code"] == "SUBGRAPH_BAD_RESPONSE"
    assert body["errors"][0]["path"] == ["shelf"]


async def test_only_used_variables_are_sent(supergraph: Supergraph) -> None:
    answer = lambda _: {"data": {"one": None}}  # noqa: E731
    _, catalog, _ = await run(
        supergraph,
        "query ($a: Boolean!) { one @include(if: $a) { id } }",
        answer,
        entities(named),
        {"a": True},
    )
    assert catalog.requests[0].variables == {}
    assert catalog.requests[0].document is not None


async def test_subgraph_errors_get_their_service_name(supergraph: Supergraph) -> None:
    answer = lambda _: {  # noqa: E731
        "data": {"one": None},
        "errors": [{"message": "no", "path": ["one"], "extensions": {"code": "X"}}],
    }
    body, _, _ = await run(supergraph, "{ one { id } }", answer, entities(named))
    assert body == {
        "data": {"one": None},
        "errors": [
            {
                "message": "no",
                "path": ["one"],
                "extensions": {"code": "X", "serviceName": "catalog"},
            }
        ],
    }


async def test_an_entity_error_without_entity_path_is_put_at_the_fetch_path(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ shelf { id name } }",
        shelf("1", "2"),
        lambda _: {"data": None, "errors": [{"message": "database is down"}]},
    )
    assert body == {
        "data": {"shelf": [None, None]},
        "errors": [
            {
                "message": "database is down",
                "extensions": {
                    "code": "DOWNSTREAM_SERVICE_ERROR",
                    "serviceName": "details",
                },
                "path": ["shelf"],
            }
        ],
    }


async def test_a_single_fetch_answer_with_errors_is_still_null_propagated(
    supergraph: Supergraph,
) -> None:
    answer = lambda _: {  # noqa: E731
        "data": {"items": [{"id": "1"}, None]},
        "errors": [{"message": "item 2 failed", "path": ["items", 1]}],
    }
    body, _, _ = await run(supergraph, "{ items { id } }", answer, entities(named))
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "item 2 failed",
                "path": ["items", 1],
                "extensions": {
                    "code": "DOWNSTREAM_SERVICE_ERROR",
                    "serviceName": "catalog",
                },
            }
        ],
    }


def test_merge_combines_objects_and_lists_item_by_item() -> None:
    target: dict[str, Any] = {"a": {"x": 1}, "l": [{"i": 1}, None], "s": 1}
    merge(
        target,
        {"a": {"y": 2}, "l": [{"j": 2}, {"k": 3}], "s": 2, "n": None},
        Ownership(target),
    )
    assert target == {
        "a": {"x": 1, "y": 2},
        "l": [{"i": 1, "j": 2}, {"k": 3}],
        "s": 2,
        "n": None,
    }


def test_merge_and_collect_never_change_a_shared_answer() -> None:
    shared = {"top": [{"id": 1, "more": {"a": 1}}, {"id": 2, "more": {"a": 2}}]}
    before = copy.deepcopy(shared)
    results = []
    for extra in ("x", "y"):  # two runs over one decoded answer
        data: dict[str, Any] = {}
        owned = Ownership(data, shared=True)
        merge(data, shared, owned)
        for obj, _ in collect(data, ("top", "@"), owned):
            merge(obj, {extra: obj["id"], "more": {extra: True}}, owned)
        results.append(data)
    assert shared == before
    assert results[0]["top"][0] == {"id": 1, "more": {"a": 1, "x": True}, "x": 1}
    assert results[1]["top"][1] == {"id": 2, "more": {"a": 2, "y": True}, "y": 2}


@pytest.mark.parametrize(
    ("value", "valid"),
    [("a string", True), ({"an": "object"}, False), (12, False), (["x"], False)],
)
async def test_a_leaf_of_the_wrong_type_is_null_with_an_error_at_its_path(
    supergraph: Supergraph, value: Any, valid: bool
) -> None:
    # Two fetches (not a pass-through answer): the merged data is completed.
    body, _, _ = await run(
        supergraph,
        "{ one { kind name } }",
        lambda _: {"data": {"one": {"__typename": "Item", "id": "1", "kind": value}}},
        entities(named),
    )
    if valid:
        assert body == {"data": {"one": {"kind": value, "name": "item 1"}}}
        return
    assert body["data"] == {"one": {"kind": None, "name": "item 1"}}
    [error] = body["errors"]
    assert error["path"] == ["one", "kind"]
    assert error["extensions"]["code"] == "SUBGRAPH_BAD_RESPONSE"


async def test_a_wrong_leaf_in_a_non_null_field_nulls_the_parent(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ one { id name } }",
        lambda _: {"data": {"one": {"__typename": "Item", "id": "1"}}},
        entities(lambda rep: {"name": float("nan")}),
    )
    assert body["data"] == {"one": None}
    assert [e["path"] for e in body["errors"]] == [["one", "name"]]


async def test_list_items_of_the_wrong_type_are_null_each_with_its_error(
    supergraph: Supergraph,
) -> None:
    body, _, _ = await run(
        supergraph,
        "{ one { tags } }",
        lambda _: {"data": {"one": {"__typename": "Item", "id": "1"}}},
        entities(lambda rep: {"tags": ["ok", 3, None]}),
    )
    assert body["data"] == {"one": {"tags": ["ok", None, None]}}
    assert [e["path"] for e in body["errors"]] == [["one", "tags", 1]]


async def test_entity_fetches_at_two_paths_are_one_request_with_two_selections(
    supergraph: Supergraph,
) -> None:
    def details(request: SubgraphRequest) -> SubgraphResult:
        return {
            "data": {
                alias: [named(rep) for rep in request.variables[variable]]
                for alias, variable in (
                    ("_0", "representations0"),
                    ("_1", "representations1"),
                )
            }
        }

    body, _, fake_details = await run(
        supergraph,
        "{ shelf { name } one { name } }",
        lambda _: {
            "data": {
                "shelf": [
                    {"__typename": "Item", "id": "1"},
                    {"__typename": "Item", "id": "2"},
                ],
                "one": {"__typename": "Item", "id": "3"},
            }
        },
        details,
    )
    assert body == {
        "data": {
            "shelf": [{"name": "item 1"}, {"name": "item 2"}],
            "one": {"name": "item 3"},
        }
    }
    [request] = fake_details.requests
    assert request.variables == {
        "representations0": [
            {"__typename": "Item", "id": "1"},
            {"__typename": "Item", "id": "2"},
        ],
        "representations1": [{"__typename": "Item", "id": "3"}],
    }


async def test_an_error_in_one_merged_selection_is_repathed_to_its_own_path(
    supergraph: Supergraph,
) -> None:
    def details(request: SubgraphRequest) -> SubgraphResult:
        return {
            "data": {
                "_0": [named(r) for r in request.variables["representations0"]],
                "_1": [None],
            },
            "errors": [{"message": "gone", "path": ["_1", 0, "name"]}],
        }

    body, _, _ = await run(
        supergraph,
        "{ shelf { note } one { note } }",
        lambda _: {
            "data": {
                "shelf": [{"__typename": "Item", "id": "1"}],
                "one": {"__typename": "Item", "id": "3"},
            }
        },
        details,
    )
    assert body["errors"][0]["path"] == ["one", "name"]


SHELF_PARTS = {
    "catalog": 'type Query { shelf: [Item] } type Item @key(fields: "id") { id: ID! }',
    "details": 'type Item @key(fields: "id") { id: ID! related: Part }\n'
    'type Part @key(fields: "id") { id: ID! }',
    "notes": 'type Item @key(fields: "id") { id: ID! note: String }',
    "parts": 'type Part @key(fields: "id") { id: ID! name: String }',
    "prices": 'type Part @key(fields: "id") { id: ID! price: Int }',
}


async def _parts_in_sequence(
    notes: Callable[[dict[str, Any]], Any], reuse: bool = True
) -> tuple[dict[str, Any], dict[str, FakeTransport], Any]:
    """``{ shelf { note related { name price } } }`` with its fetches run one after
    the other: catalog, details (``related``), parts, notes, prices; the notes
    subgraph answers with ``notes``."""
    supergraph = build_supergraph(SHELF_PARTS)
    operation = OperationCache(supergraph.schema).get(
        "{ shelf { note related { name price } } }"
    )
    planned = QueryPlanner(supergraph).plan(operation, {})
    flattens: dict[str, Flatten] = {}

    def find(node: Any) -> None:
        if isinstance(node, Flatten):
            flattens[node.node.subgraph] = node
        for child in getattr(node, "nodes", ()):
            find(child)

    find(planned.node)
    assert isinstance(planned.node, Sequence)
    root = planned.node.nodes[0]
    order = [flattens[name] for name in ("details", "parts", "notes", "prices")]
    query_plan = dataclasses.replace(planned, node=Sequence((root, *order)))
    if not reuse:
        for node in order:
            query_plan.program._gathers.pop(id(node.node))
    shelf_items = [{"__typename": "Item", "id": "1"}, {"__typename": "Item", "id": "2"}]
    transports = {
        "catalog": FakeTransport("catalog", lambda _: {"data": {"shelf": shelf_items}}),
        "details": FakeTransport(
            "details",
            entities(lambda rep: {"related": {"__typename": "Part", "id": rep["id"]}}),
        ),
        "notes": FakeTransport("notes", entities(notes)),
        "parts": FakeTransport("parts", entities(lambda rep: {"name": rep["id"]})),
        "prices": FakeTransport("prices", entities(lambda rep: {"price": 1})),
    }
    body = await Executor(supergraph.schema, transports).execute(query_plan, {})
    return body, transports, query_plan


async def test_a_later_fetch_at_a_path_reuses_the_objects_an_earlier_one_found() -> (
    None
):
    body, transports, query_plan = await _parts_in_sequence(lambda rep: {"note": "n"})
    [request] = transports["prices"].requests
    assert request.variables["representations"] == [
        {"__typename": "Part", "id": "1"},
        {"__typename": "Part", "id": "2"},
    ]
    gathers = {
        node.node.subgraph: query_plan.program.gather(node.node)
        for node in query_plan.node.nodes[1:]
    }
    # parts started from what details found at shelf.@, and prices from what
    # parts found at shelf.@.related (nothing merged since had changed them).
    assert list(gathers["parts"]._from) == [2]
    assert list(gathers["prices"]._from) == [3]
    assert body == {
        "data": {
            "shelf": [
                {"note": "n", "related": {"name": "1", "price": 1}},
                {"note": "n", "related": {"name": "2", "price": 1}},
            ]
        }
    }


@pytest.mark.parametrize("reuse", [True, False])
async def test_a_merge_that_changes_a_path_makes_the_next_fetch_walk_it_again(
    reuse: bool,
) -> None:
    """The notes subgraph sends a ``related`` it was not asked for: a walk down
    shelf.@.related after that merge finds only what is there now."""

    def notes(rep: dict[str, Any]) -> Any:
        return {"note": "n", "related": None} if rep["id"] == "1" else {"note": "n"}

    body, transports, _ = await _parts_in_sequence(notes, reuse)
    [request] = transports["prices"].requests
    assert request.variables["representations"] == [{"__typename": "Part", "id": "2"}]
    assert body == {
        "data": {
            "shelf": [
                {"note": "n", "related": None},
                {"note": "n", "related": {"name": "2", "price": 1}},
            ]
        }
    }


class BlockingTransport:
    """A subgraph that never answers until told; records starts and cancellations."""

    def __init__(self, events: list[str], name: str) -> None:
        self.events = events
        self.name = name
        self.started = asyncio.Event()

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        self.events.append(f"{self.name} started")
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.events.append(f"{self.name} cancelled")
            raise
        raise AssertionError("unreachable")

    def subscribe(self, request: SubgraphRequest) -> Any:
        raise NotImplementedError


async def test_parallel_fetches_run_together_and_a_cancelled_request_cancels_each() -> (
    None
):
    supergraph = build_supergraph(SHELF_PARTS)
    operation = OperationCache(supergraph.schema).get(
        "{ shelf { note related { id } } }"
    )
    query_plan = QueryPlanner(supergraph).plan(operation, {})
    events: list[str] = []
    shelf_items = [{"__typename": "Item", "id": "1"}]
    details = BlockingTransport(events, "details")
    notes = BlockingTransport(events, "notes")
    transports: dict[str, Any] = {
        "catalog": FakeTransport("catalog", lambda _: {"data": {"shelf": shelf_items}}),
        "details": details,
        "notes": notes,
    }
    task = asyncio.ensure_future(
        Executor(supergraph.schema, transports).execute(query_plan, {})
    )
    # Both start while neither has answered: they run together (one after the
    # other, the second would never start and this would time out).
    await asyncio.wait_for(
        asyncio.gather(details.started.wait(), notes.started.wait()), 10
    )
    assert sorted(events) == ["details started", "notes started"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(events[2:]) == ["details cancelled", "notes cancelled"]
