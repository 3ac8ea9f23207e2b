"""Equal objects are made one by the gather, merged into and completed once
(``Gather.share``, ``program._sharing``): the answers, errors and their paths are
those of objects kept apart."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import SelectionSetNode, parse

from gateway.execution import Executor
from gateway.execution.gather import compile_gather
from gateway.execution.program import _sharing
from gateway.operation import OperationCache, coerce_variables
from gateway.planner import QueryPlanner
from gateway.planner.nodes import (
    Fetch,
    Flatten,
    Parallel,
    RepresentationField,
    Sequence,
    Subscription,
)
from gateway.supergraph import Supergraph
from tests.scenarios.handmade import build_supergraph
from tests.test_executor import CATALOG, DETAILS, FakeTransport, entities, named

Row = dict[str, Any] | None


@pytest.fixture(scope="module")
def supergraph() -> Supergraph:
    return build_supergraph({"catalog": CATALOG, "details": DETAILS})


async def _run(
    supergraph: Supergraph, query: str, rows: list[Row], details: Any
) -> tuple[dict[str, Any], FakeTransport]:
    operation = OperationCache(supergraph.schema).get(query)
    coerced = coerce_variables(supergraph.schema, operation, None)
    plan = QueryPlanner(supergraph).plan(operation, coerced)
    assert list(_sharing(plan.node).values()) == [("shelf", "@")]
    transports = {
        "catalog": FakeTransport("catalog", lambda _: {"data": {"shelf": rows}}),
        "details": FakeTransport("details", details),
    }
    body = await Executor(supergraph.schema, transports).execute(plan, coerced)
    return body, transports["details"]


def _item(id_: str, kind: Any = "book") -> dict[str, Any]:
    return {"__typename": "Item", "id": id_, "kind": kind}


async def test_equal_objects_get_their_answers_once_and_each_shows_them(
    supergraph: Supergraph,
) -> None:
    body, details = await _run(
        supergraph,
        "{ shelf { id kind name } }",
        [_item("1"), _item("2"), _item("1"), None, _item("1")],
        entities(named),
    )
    assert details.requests[0].variables["representations"] == [
        {"__typename": "Item", "id": "1"},
        {"__typename": "Item", "id": "2"},
    ]
    one = {"id": "1", "kind": "book", "name": "item 1"}
    two = {"id": "2", "kind": "book", "name": "item 2"}
    assert body == {"data": {"shelf": [one, two, one, None, one]}}


async def test_objects_equal_only_in_python_are_kept_apart() -> None:
    # True == 1 in Python, but only 1 is an Int: each object keeps its own value.
    counted = build_supergraph(
        {
            "catalog": CATALOG.replace("kind: String", "kind: String count: Int"),
            "details": DETAILS,
        }
    )
    rows = [{**_item("1"), "count": 1}, {**_item("1"), "count": True}]
    body, _ = await _run(counted, "{ shelf { id count name } }", rows, entities(named))
    assert body["data"]["shelf"] == [
        {"id": "1", "count": 1, "name": "item 1"},
        {"id": "1", "count": None, "name": "item 1"},
    ]
    assert [error["path"] for error in body["errors"]] == [["shelf", 1, "count"]]


async def test_an_error_in_equal_objects_is_at_the_path_of_each(
    supergraph: Supergraph,
) -> None:
    # "kind" 1 is not a String: each object that has it is an error of its own.
    body, _ = await _run(
        supergraph,
        "{ shelf { id kind name } }",
        [_item("1", 1), _item("2"), _item("1", 1)],
        entities(named),
    )
    assert body["data"]["shelf"] == [
        {"id": "1", "kind": None, "name": "item 1"},
        {"id": "2", "kind": "book", "name": "item 2"},
        {"id": "1", "kind": None, "name": "item 1"},
    ]
    assert [error["path"] for error in body["errors"]] == [
        ["shelf", 0, "kind"],
        ["shelf", 2, "kind"],
    ]


async def test_a_null_in_a_non_null_field_of_equal_objects_is_an_error_at_each(
    supergraph: Supergraph,
) -> None:
    body, _ = await _run(
        supergraph,
        "{ shelf { id name } }",
        [_item("1"), _item("2"), _item("1"), _item("1")],
        entities(lambda rep: {"name": None} if rep["id"] == "1" else named(rep)),
    )
    assert body["data"]["shelf"] == [None, {"id": "2", "name": "item 2"}, None, None]
    assert [error["path"] for error in body["errors"]] == [
        ["shelf", 0, "name"],
        ["shelf", 2, "name"],
        ["shelf", 3, "name"],
    ]


async def test_an_entity_error_is_at_the_path_of_each_equal_object(
    supergraph: Supergraph,
) -> None:
    def answer(request: Any) -> dict[str, Any]:
        reps = request.variables["representations"]
        return {
            "data": {"_entities": [named(rep) for rep in reps]},
            "errors": [{"message": "no note", "path": ["_entities", 0, "name"]}],
        }

    body, _ = await _run(
        supergraph,
        "{ shelf { id name } }",
        [_item("1"), _item("2"), _item("1")],
        answer,
    )
    assert [error["path"] for error in body["errors"]] == [
        ["shelf", 0, "name"],
        ["shelf", 2, "name"],
    ]


def test_the_gather_makes_equal_objects_one_in_their_container() -> None:
    representation = {
        "Item": (RepresentationField("__typename"), RepresentationField("id"))
    }
    rows: list[Any] = [_item("1"), _item("1"), _item("1", 1), _item("2"), _item("1")]
    nested = {"__typename": "Item", "id": "3", "tags": [{"n": 1}]}
    same_nested = {"__typename": "Item", "id": "3", "tags": [{"n": 1}]}
    true_nested = {"__typename": "Item", "id": "3", "tags": [{"n": True}]}
    data = {"shelf": [*rows, nested, same_nested, true_nested]}
    first = rows[0]
    found = compile_gather(("shelf", "@"), representation, share=True).run(data, None)
    shelf = data["shelf"]
    assert [item is first for item in shelf[:5]] == [True, True, False, False, True]
    # All the way down, and of the same types (1 is not true).
    assert shelf[6] is nested and shelf[7] is true_nested
    assert [target[1:] for target in found.targets] == [(i,) for i in range(8)]
    assert [target[0] for target in found.targets] == shelf
    assert [len(group) for group in found.fan_out] == [4, 1, 3]
    assert found.shared
    apart = {"shelf": [_item("1"), _item("1")]}
    compile_gather(("shelf", "@"), representation).run(apart, None)
    assert apart["shelf"][0] is not apart["shelf"][1]


NESTED_CATALOG = """
type Query { shelf: [Item] }
type Item @key(fields: "id") { id: ID! kind: String part: Part }
type Part @key(fields: "id") { id: ID! }
"""
NESTED_DETAILS = """
type Item @key(fields: "id") { id: ID! note: String }
type Part @key(fields: "id") { id: ID! name: String! }
"""


async def test_below_equal_objects_each_place_gets_its_answers_and_errors() -> None:
    nested = build_supergraph({"catalog": NESTED_CATALOG, "details": NESTED_DETAILS})
    query = "{ shelf { id note part { id name } } }"
    operation = OperationCache(nested.schema).get(query)
    coerced = coerce_variables(nested.schema, operation, None)
    plan = QueryPlanner(nested).plan(operation, coerced)
    assert ("shelf", "@") in set(_sharing(plan.node).values())

    def row(id_: str, part: str) -> dict[str, Any]:
        return {
            "__typename": "Item",
            "id": id_,
            "part": {"__typename": "Part", "id": part},
        }

    rows = [row("1", "p"), row("2", "q"), row("1", "p"), row("1", "p")]

    def details(request: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors = []
        for key, value in request.variables.items():
            answers = []
            for index, rep in enumerate(value):
                if rep["__typename"] == "Item":
                    answers.append({"note": f"note {rep['id']}"})
                elif rep["id"] == "p":  # no name: an error at each place of "p"
                    answers.append({"name": None})
                    errors.append(
                        {"message": "no name", "path": [None, index, "name"], "k": key}
                    )
                else:
                    answers.append({"name": f"part {rep['id']}"})
            out[key] = answers
        return {"data": out, "errors": errors}

    def answer(request: Any) -> dict[str, Any]:
        # Entity fetches are one ``_entities`` selection or several aliased ones.
        body = details(request)
        aliases = [k for k in request.variables if k.startswith("representations")]
        data = {}
        for variable in aliases:
            alias = (
                "_entities" if variable == "representations" else "_" + variable[15:]
            )
            data[alias] = body["data"][variable]
        for error in body["errors"]:
            variable = error.pop("k")
            error["path"][0] = (
                "_entities" if variable == "representations" else "_" + variable[15:]
            )
        return {"data": data, "errors": body["errors"]}

    transports = {
        "catalog": FakeTransport("catalog", lambda _: {"data": {"shelf": rows}}),
        "details": FakeTransport("details", answer),
    }
    body = await Executor(nested.schema, transports).execute(plan, coerced)
    two = {"id": "2", "note": "note 2", "part": {"id": "q", "name": "part q"}}
    one = {"id": "1", "note": "note 1", "part": None}
    assert body["data"] == {"shelf": [one, two, one, one]}
    paths = sorted(error["path"] for error in body["errors"])
    assert paths == [
        ["shelf", 0, "part", "name"],
        ["shelf", 2, "part", "name"],
        ["shelf", 3, "part", "name"],
    ]


# -- where the plan allows it -----------------------------------------------------------


def _selection(text: str) -> SelectionSetNode:
    definition = parse(text).definitions[0]
    return definition.selection_set  # type: ignore[attr-defined]


def _root(keys: str) -> Fetch:
    text = "{ " + keys + " }"
    return Fetch(subgraph="root", operation=text, document=parse(text))


def _entity(path: str, fields: str, subgraph: str = "s") -> Fetch:
    text = (
        "query($representations: [_Any!]!) { _entities(representations: "
        "$representations) { ... on T { " + fields + " } } }"
    )
    return Fetch(
        subgraph=subgraph,
        operation=text,
        document=parse(text),
        path=tuple(path.split(".")),
        requires=_selection("{ ... on T { __typename id } }"),
        representation={
            "T": (RepresentationField("__typename"), RepresentationField("id"))
        },
    )


def _paths(node: Any) -> list[str]:
    return sorted(".".join(path) for path in _sharing(node).values())


def test_the_plan_allows_sharing_where_walks_end_after_the_merges_above() -> None:
    deep = _entity("a.@.b.@", "x")
    plan = Sequence((_root("a { b { id } }"), Flatten(deep.path, deep)))
    assert _paths(plan) == ["a.@.b.@"]


def test_also_where_a_gather_goes_on_below() -> None:
    # The walks below go through every place of a shared object: they find what
    # they found before, and the merges below reach the shared objects.
    deep = _entity("a.@.b.@", "c { __typename id }")
    deeper = _entity("a.@.b.@.c", "y", "t")
    plan = Sequence(
        (
            _root("a { b { id } }"),
            Flatten(deep.path, deep),
            Flatten(deeper.path, deeper),
        )
    )
    assert _paths(plan) == ["a.@.b.@", "a.@.b.@.c"]


def test_not_beside_a_merge_above_whose_answers_go_that_way() -> None:
    deep = _entity("a.@.b.@", "x")
    above_into = _entity("a.@", "b { x }", "t")
    above_aside = _entity("a.@", "other", "t")
    for beside, allowed in ((above_into, ["a.@"]), (above_aside, ["a.@", "a.@.b.@"])):
        plan = Sequence(
            (
                _root("a { b { id } }"),
                Parallel((Flatten(deep.path, deep), Flatten(beside.path, beside))),
            )
        )
        assert _paths(plan) == allowed
    # Before it, the merge above is over when the objects are made one.
    plan = Sequence(
        (
            _root("a { b { id } }"),
            Flatten(above_into.path, above_into),
            Flatten(deep.path, deep),
        )
    )
    assert _paths(plan) == ["a.@", "a.@.b.@"]


def test_not_beside_another_fetch_at_the_same_path() -> None:
    one = _entity("a.@", "x")
    two = _entity("a.@", "y", "t")
    flat = (Flatten(one.path, one), Flatten(two.path, two))
    assert _paths(Sequence((_root("a { id }"), Parallel(flat)))) == []
    assert _paths(Sequence((_root("a { id }"), *flat))) == ["a.@", "a.@"]


def test_not_for_subscriptions() -> None:
    deep = _entity("a.@", "x")
    assert _sharing(Subscription(_root("a { id }"), Flatten(deep.path, deep))) == {}
