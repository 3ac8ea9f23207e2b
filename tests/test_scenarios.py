"""Scenario tests: every folder under tests/scenarios/ with a supergraph.yaml is a case.

A folder holds ``supergraph.yaml`` (Cosmo's list form), one ``<subgraph>.graphql``
per subgraph, ``resolvers.py`` (``SUBGRAPHS = {name: [ariadne bindables]}``, optional
``DOWN = {names}`` for subgraphs that cannot be reached, optional ``SCHEMA_HOOKS =
{name: fn(schema)}`` for what ariadne cannot express), ``query.graphql``, optional
``variables.json`` / ``operation_name.txt``, ``expected.json`` (the exact response,
key order included) and optional ``plan.txt`` (the printed plan). See
tests/scenarios/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import RequestError
from gateway.operation import GraphQLRequest
from gateway.planner.nodes import print_plan
from gateway.transports.h1 import HTTP1Client
from tests.scenarios.harness import (
    SCENARIOS,
    Reach,
    load_scenario,
    scenario_engine,
)


def _optional(folder: Path, name: str) -> str | None:
    path = folder / name
    return path.read_text() if path.is_file() else None


def _without_unreachable_messages(body: dict[str, Any]) -> dict[str, Any]:
    """Unreachable-subgraph messages name the address tried: compare all but that."""
    for error in body.get("errors", ()):
        if error.get("extensions", {}).get("code") == "SUBGRAPH_UNREACHABLE":
            error["message"] = "<unreachable>"
    return body


@pytest.fixture
async def client_session() -> Any:
    client = HTTP1Client()
    yield client
    await client.close()


@pytest.mark.parametrize("mode", ["inprocess", "http"])
@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
async def test_scenario_answers_exactly_as_expected(
    folder: Path, mode: str, aiohttp_server: Any, client_session: Any
) -> None:
    scenario = load_scenario(folder)
    engine = await scenario_engine(
        scenario, Reach(mode, aiohttp_server, client_session)
    )
    variables = _optional(folder, "variables.json")
    operation_name = _optional(folder, "operation_name.txt")
    request = GraphQLRequest(
        query=(folder / "query.graphql").read_text(),
        operation_name=operation_name.strip() if operation_name else None,
        variables=json.loads(variables) if variables else None,
    )
    try:
        prepared = engine.prepare(request)
    except RequestError as exc:
        body: dict[str, Any] = {"errors": exc.graphql_errors()}
    else:
        body = await engine.execute(prepared)
        expected_plan = _optional(folder, "plan.txt")
        if expected_plan is not None:
            assert print_plan(engine.plan_for(prepared)) == expected_plan.strip()
    expected = json.loads((folder / "expected.json").read_text())
    if mode == "http":
        body, expected = map(_without_unreachable_messages, (body, expected))
    # Compared as text so that key order (the client's field order) counts too.
    assert json.dumps(body, indent=2) == json.dumps(expected, indent=2)
