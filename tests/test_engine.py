"""Engine: prepare / plan_for / execute over in-process subgraphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gateway.operation
import gateway.planner.planner
from gateway.engine import Engine
from gateway.errors import BadRequestError, OperationError
from gateway.operation import GraphQLRequest
from gateway.planner.nodes import Subscription, print_plan
from tests.scenarios.handmade import build_supergraph
from tests.scenarios.harness import load_scenario, scenario_engine

CLASSIC = Path(__file__).parent / "scenarios" / "entity_join"


@pytest.fixture
async def engine() -> Engine:
    return await scenario_engine(load_scenario(CLASSIC))


async def test_execute_answers_data_without_an_errors_key(engine: Engine) -> None:
    prepared = engine.prepare(
        GraphQLRequest(
            "query ($n: Int) { topProducts(first: $n) { name } }", None, {"n": 1}
        )
    )
    assert await engine.execute(prepared) == {
        "data": {"topProducts": [{"name": "Table"}]}
    }


async def test_prepare_reports_the_operation_kind(engine: Engine) -> None:
    prepared = engine.prepare(GraphQLRequest("mutation { __typename }"))
    assert prepared.operation.kind == "mutation"


def test_prepare_raises_request_errors(engine: Engine) -> None:
    with pytest.raises(BadRequestError):
        engine.prepare(GraphQLRequest(None))
    with pytest.raises(OperationError) as caught:
        engine.prepare(
            GraphQLRequest("query ($n: Int!) { topProducts(first: $n) { upc } }")
        )
    assert caught.value.code == "BAD_USER_INPUT"


async def test_a_repeated_request_is_not_parsed_validated_or_planned_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"parse": 0, "validate": 0, "plan": 0}

    def counting(name: str, target: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return target(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        gateway.operation, "parse", counting("parse", gateway.operation.parse)
    )
    monkeypatch.setattr(
        gateway.operation, "validate", counting("validate", gateway.operation.validate)
    )
    monkeypatch.setattr(
        gateway.planner.planner,
        "PlanBuilder",
        counting("plan", gateway.planner.planner.PlanBuilder),
    )
    request = GraphQLRequest(
        "query Top($n: Int) { topProducts(first: $n) { name reviews { body } } }",
        "Top",
        {"n": 2},
    )
    first = await engine.execute(engine.prepare(request))
    assert calls == {"parse": 1, "validate": 1, "plan": 1}
    for n in (2, 1, 3):  # other variable values reuse document and plan too
        again = await engine.execute(
            engine.prepare(GraphQLRequest(request.query, "Top", {"n": n}))
        )
        assert "errors" not in again
    assert calls == {"parse": 1, "validate": 1, "plan": 1}
    assert first == await engine.execute(engine.prepare(request))


async def test_an_unplannable_operation_is_an_error_response_not_an_exception() -> None:
    graph = build_supergraph(
        {
            "a": "type Query { things: [Thing] } type Thing { id: ID! }",
            "b": 'type Thing @key(fields: "sku") { sku: ID! extra: String }',
        }
    )
    engine = Engine(graph, {})
    body = await engine.execute(engine.prepare(GraphQLRequest("{ things { extra } }")))
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_PLANNING_FAILED"


async def test_subscription_events_get_their_entity_fields() -> None:
    scenario = load_scenario(CLASSIC)
    graph = build_supergraph(
        {
            **scenario.sdl,
            "live": "type Query { ok: Boolean } type Subscription { "
            'productAdded: Product } type Product @key(fields: "upc") { upc: String! }',
        }
    )
    base = await scenario_engine(scenario)
    engine = Engine(graph, base.transports)
    prepared = engine.prepare(
        GraphQLRequest("subscription { productAdded { upc name } }")
    )
    plan = engine.plan_for(prepared)
    assert isinstance(plan.node, Subscription)
    event = {"data": {"productAdded": {"__typename": "Product", "upc": "2"}}}
    body = await engine.executor.execute_event(plan, event, prepared.variables)  # type: ignore[arg-type]
    assert body == {"data": {"productAdded": {"upc": "2", "name": "Couch"}}}


async def test_plan_document_needs_no_variables(engine: Engine) -> None:
    plan = engine.plan_document(
        "query ($n: Int!, $r: Boolean!) { topProducts(first: $n) { name "
        "reviews @include(if: $r) { body } } }"
    )
    assert "Flatten" in print_plan(plan)  # a condition without a value is included
