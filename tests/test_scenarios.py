"""Scenario tests: every folder under tests/scenarios/ with a supergraph.yaml is a case.

A folder holds ``supergraph.yaml`` (Cosmo's list form), one ``<subgraph>.graphql``
per subgraph, ``resolvers.py`` (``SUBGRAPHS = {name: [ariadne bindables]}``, optional
``DOWN = {names}`` for subgraphs that cannot be reached), ``query.graphql``, optional
``variables.json`` / ``operation_name.txt``, ``expected.json`` (the exact response,
key order included) and optional ``plan.txt`` (the printed plan). See
tests/scenarios/README.md.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ariadne.contrib.federation import make_federated_schema

from gateway.config import load_config
from gateway.engine import Engine
from gateway.errors import RequestError, SubgraphUnreachableError
from gateway.operation import GraphQLRequest
from gateway.plan import print_plan
from gateway.supergraph import Supergraph
from gateway.transports.base import SubgraphRequest, SubgraphResult, Transport
from gateway.transports.inprocess import InProcessTransport, LocalSubgraph

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
SCENARIOS = sorted(
    path for path in SCENARIOS_DIR.iterdir() if (path / "supergraph.yaml").is_file()
)


@dataclass
class Scenario:
    folder: Path
    sdl: dict[str, str]
    """Subgraph name -> SDL, in supergraph.yaml order."""
    resolvers: ModuleType

    @property
    def down(self) -> set[str]:
        return set(getattr(self.resolvers, "DOWN", ()))


def load_scenario(folder: Path) -> Scenario:
    config = load_config(folder / "supergraph.yaml")
    sdl: dict[str, str] = {}
    for subgraph in config.subgraphs:
        if subgraph.schema_file is not None:
            sdl[subgraph.name] = subgraph.schema_file.read_text()
        else:
            assert subgraph.sdl is not None, f"{folder}: {subgraph.name} has no SDL"
            sdl[subgraph.name] = subgraph.sdl
    spec = importlib.util.spec_from_file_location(
        f"scenario_{folder.name}_resolvers", folder / "resolvers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Scenario(folder, sdl, module)


def compose_scenario(scenario: Scenario) -> Supergraph:
    """The real composition when it is there; the hand-made one until then."""
    try:
        from gateway.composition import compose
    except ImportError:
        from tests.scenarios.handmade import build_supergraph

        return build_supergraph(scenario.sdl)
    return compose(list(scenario.sdl.items()))


class UnreachableTransport:
    """A subgraph whose host refuses connections."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        raise SubgraphUnreachableError(
            f"cannot connect to subgraph {self.name!r}: connection refused",
            service=self.name,
        )

    def subscribe(self, request: SubgraphRequest) -> Any:
        raise SubgraphUnreachableError("connection refused", service=self.name)


async def reach_subgraph(name: str, local: LocalSubgraph, *, down: bool) -> Transport:
    """How the gateway reaches a scenario's subgraph: the one place to change to
    serve subgraphs over HTTP instead."""
    if down:
        return UnreachableTransport(name)
    return InProcessTransport(name, local)


async def scenario_engine(scenario: Scenario) -> Engine:
    supergraph = compose_scenario(scenario)
    bindables: Mapping[str, list[Any]] = scenario.resolvers.SUBGRAPHS
    transports: dict[str, Transport] = {}
    for name, sdl in scenario.sdl.items():
        schema = make_federated_schema(sdl, *bindables.get(name, []))
        transports[name] = await reach_subgraph(
            name, LocalSubgraph(schema, sdl), down=name in scenario.down
        )
    return Engine(supergraph, transports)


def _optional(folder: Path, name: str) -> str | None:
    path = folder / name
    return path.read_text() if path.is_file() else None


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
async def test_scenario_answers_exactly_as_expected(folder: Path) -> None:
    scenario = load_scenario(folder)
    engine = await scenario_engine(scenario)
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
    # Compared as text so that key order (the client's field order) counts too.
    assert json.dumps(body, indent=2) == json.dumps(expected, indent=2)
