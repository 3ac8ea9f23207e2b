"""Compiled plans: the completion program answers exactly as the interpreter does.

``gateway.execution.completion`` is the reference; a plan's program must give the
same response, the same errors in the same order and the same null propagation for
any data a subgraph may send: valid, null where it must not be, of the wrong type,
of an unknown ``__typename``, or missing.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    get_named_type,
)

from gateway.composition import compose
from gateway.errors import PlanningError
from gateway.execution import program as program_module
from gateway.execution.completion import complete
from gateway.operation import GraphQLRequest, OperationCache
from gateway.planner import QueryPlanner
from gateway.planner.caching import CachingQueryPlanner
from gateway.planner.nodes import QueryPlan, ShapeField, ShapeSelection
from gateway.supergraph import Supergraph
from tests.scenarios.harness import SCENARIOS, Reach, load_scenario, scenario_engine

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: ["@key", "@inaccessible"])
scalar JSON
enum Color { RED GREEN BLUE HIDDEN @inaccessible }
interface Node { id: ID! }
type Item implements Node @key(fields: "id") {
  id: ID!
  name: String!
  price: Float
  count: Int
  flag: Boolean
  color: Color
  colors: [Color!]
  tags: [String!]
  grid: [[Int!]]
  strict: [[Int!]!]!
  data: JSON
  datas: [JSON]
  child: Item
  kids: [Item!]
  more: [Item]
  must: Item!
}
type Other implements Node { id: ID! label: String }
union Result = Item | Other
type Query {
  items: [Item!]!
  maybe: Item
  nodes: [Node]
  search: [Result!]
  node: Node!
}
"""

QUERIES = [
    "{ items { id name price count flag color colors tags grid data datas } }",
    "{ maybe { id n: name child { id kids { id name } more { id must { id } } } } }",
    "{ maybe { strict must { name colors } } items { __typename id } }",
    """{ nodes { __typename id ... on Item { name kids { id } } ... on Other { label } }
       search { ... on Item { id count } ... on Other { id label } } }""",
    """query { node { ...F } maybe { id count: flag name: id } }
       fragment F on Node { id __typename ... on Other { label } }""",
]


@pytest.fixture(scope="module")
def supergraph() -> Supergraph:
    return compose([("one", SDL)])


def plan_of(supergraph: Supergraph, query: str) -> QueryPlan:
    operation = OperationCache(supergraph.schema).get(query)
    return QueryPlanner(supergraph).plan(operation, {})


_ODD: list[Any] = ["text", 7, 2**40, 1.5, float("inf"), True, [], {}, [1], {"a": 1}]
_LEAVES: dict[str, list[Any]] = {
    "Int": [1, -3, 2**31 - 1],
    "Float": [1.5, 2, -0.25],
    "String": ["s", ""],
    "Boolean": [True, False],
    "ID": ["1", 42],
    "JSON": [{"any": [1, "x"]}, "x", 3],
}


class Data:
    """Random subgraph data for a shape: mostly valid, sometimes not."""

    def __init__(self, seed: int, odd: float) -> None:
        self.random = random.Random(seed)
        self.odd = odd

    def value(self, type_: GraphQLOutputType, field: ShapeField, depth: int) -> Any:
        roll = self.random.random()
        if roll < self.odd:
            return None
        if roll < 2 * self.odd:
            return copy.deepcopy(self.random.choice(_ODD))
        if isinstance(type_, GraphQLNonNull):
            return self.value(type_.of_type, field, depth)
        if isinstance(type_, GraphQLList):
            size = self.random.randint(0, 3)
            return [self.value(type_.of_type, field, depth) for _ in range(size)]
        if field.selection is not None:
            if depth > 3:
                return None
            return self.object(field.selection, depth + 1)
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            return self.random.choice([*named.values, "HIDDEN"])
        return self.random.choice(_LEAVES[named.name])

    def object(self, shape: ShapeSelection, depth: int = 0) -> dict[str, Any]:
        names = list(shape.fields_by_type)
        type_name = self.random.choice(names)
        out: dict[str, Any] = {}
        if shape.abstract:
            roll = self.random.random()
            if roll < self.odd / 2:
                out["__typename"] = "Unknown"
            elif roll < self.odd:
                out["__typename"] = ["not", "a", "name"]
            else:
                out["__typename"] = type_name
        for field in shape.fields_by_type[type_name]:
            if field.name == "__typename" or self.random.random() < self.odd / 2:
                continue  # the data may lack a field
            out[field.data_key] = self.value(field.type, field, depth)
        return out


def _same(shape: ShapeSelection, query_plan: QueryPlan, data: dict[str, Any]) -> None:
    frozen = json.dumps(data, sort_keys=True, default=str)
    expected = complete(shape, data, [])
    actual = query_plan.program.complete(data, [])
    assert json.dumps(actual, default=str) == json.dumps(expected, default=str)
    assert json.dumps(data, sort_keys=True, default=str) == frozen  # unchanged


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("odd", [0.0, 0.05, 0.2])
def test_the_program_completes_any_data_as_the_interpreter_does(
    supergraph: Supergraph, query: str, odd: float
) -> None:
    query_plan = plan_of(supergraph, query)
    shape = query_plan.shape
    for seed in range(150):
        _same(shape, query_plan, Data(seed, odd).object(shape))


def test_valid_data_completes_without_errors(supergraph: Supergraph) -> None:
    query_plan = plan_of(supergraph, QUERIES[0])
    data = {
        "items": [
            {
                "id": "1",
                "name": "one",
                "price": 2,
                "count": 3,
                "flag": True,
                "color": "RED",
                "colors": ["GREEN"],
                "tags": ["t"],
                "grid": [[1, 2], None],
                "data": {"free": ["form"]},
                "datas": [1, "x", None],
                "extra": "not asked for",
            }
        ]
    }
    body = query_plan.program.complete(data, [])
    assert body == {
        "data": {"items": [{k: v for k, v in data["items"][0].items() if k != "extra"}]}
    }


def test_null_in_a_non_null_list_item_nulls_the_nearest_nullable_parent(
    supergraph: Supergraph,
) -> None:
    query_plan = plan_of(supergraph, "{ maybe { id strict } }")
    body = query_plan.program.complete(
        {"maybe": {"id": "1", "strict": [[1, None]]}}, []
    )
    assert body == {
        "data": {"maybe": None},
        "errors": [
            {
                "message": "Cannot return null for non-null field Item.strict.",
                "path": ["maybe", "strict", 0, 1],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }


def test_an_inaccessible_enum_value_is_null_with_an_error(
    supergraph: Supergraph,
) -> None:
    query_plan = plan_of(supergraph, "{ maybe { color colors } }")
    body = query_plan.program.complete(
        {"maybe": {"color": "HIDDEN", "colors": ["RED"]}}, []
    )
    assert body["data"] == {"maybe": {"color": None, "colors": ["RED"]}}
    assert [e["path"] for e in body["errors"]] == [["maybe", "color"]]


def test_an_unknown_typename_is_null_with_an_error(supergraph: Supergraph) -> None:
    query_plan = plan_of(supergraph, "{ nodes { id } }")
    body = query_plan.program.complete(
        {"nodes": [{"__typename": "Other", "id": "1"}, {"__typename": ["x"]}]}, []
    )
    assert body["data"] == {"nodes": [{"id": "1"}, None]}
    [error] = body["errors"]
    assert error["path"] == ["nodes", 1]
    assert error["extensions"] == {"code": "SUBGRAPH_BAD_RESPONSE"}


def test_a_cached_plan_counts_its_program_in_the_byte_bound(
    supergraph: Supergraph,
) -> None:
    planner = CachingQueryPlanner(supergraph)
    operation = OperationCache(supergraph.schema).get(QUERIES[3])
    query_plan = planner.plan(operation, {})
    assert query_plan.program.nbytes > 0
    assert planner.entries.bytes >= query_plan.program.nbytes


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every completion of the test runs the interpreter too and must agree."""
    counts: list[int] = []
    compiled = program_module.PlanProgram.complete

    def both(
        self: program_module.PlanProgram,
        data: dict[str, Any],
        errors: list[dict[str, Any]],
        shared: bool = False,
    ) -> dict[str, Any]:
        shape = shapes[id(self)]
        expected = complete(shape, copy.deepcopy(data), copy.deepcopy(errors))
        actual = compiled(self, data, errors, shared)
        assert json.dumps(actual) == json.dumps(expected)
        counts.append(1)
        return actual

    shapes: dict[int, ShapeSelection] = {}
    original_post_init = QueryPlan.__post_init__

    def remember(self: QueryPlan) -> None:
        original_post_init(self)
        shapes[id(self.program)] = self.shape

    monkeypatch.setattr(QueryPlan, "__post_init__", remember)
    monkeypatch.setattr(program_module.PlanProgram, "complete", both)
    return counts


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
async def test_every_scenario_completes_as_the_interpreter_does(
    folder: Path, compared: list[int]
) -> None:
    scenario = load_scenario(folder)
    engine = await scenario_engine(scenario, Reach("inprocess", None, None))
    variables = folder / "variables.json"
    operation_name = folder / "operation_name.txt"
    request = GraphQLRequest(
        query=(folder / "query.graphql").read_text(),
        operation_name=(
            operation_name.read_text().strip() if operation_name.is_file() else None
        ),
        variables=json.loads(variables.read_text()) if variables.is_file() else None,
    )
    try:
        prepared = engine.prepare(request)
    except Exception:  # a scenario about a request error: nothing to complete
        return
    try:
        query_plan = engine.plan_for(prepared)
    except PlanningError:  # a scenario about a planning error: idem
        return
    await engine.execute(prepared)
    assert compared or query_plan.passthrough
