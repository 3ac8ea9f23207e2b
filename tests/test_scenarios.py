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

import importlib.util
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from ariadne.contrib.federation import make_federated_schema

from gateway.config import load_config
from gateway.engine import Engine
from gateway.errors import RequestError, SubgraphUnreachableError
from gateway.http.subgraph_app import create_subgraph_app
from gateway.local import LocalSubgraph
from gateway.operation import GraphQLRequest
from gateway.planner.nodes import print_plan
from gateway.supergraph import Supergraph
from gateway.transports.base import SubgraphRequest, SubgraphResult, Transport
from gateway.transports.http import HTTPTransport
from gateway.transports.inprocess import InProcessTransport

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


class Reach:
    """How the gateway reaches a scenario's subgraphs: in-process, or each one served
    by the standalone subgraph server on loopback behind the real HTTP transport."""

    def __init__(
        self, mode: str, aiohttp_server: Any, session: aiohttp.ClientSession | None
    ) -> None:
        self.mode = mode
        self.aiohttp_server = aiohttp_server
        self.session = session

    async def __call__(
        self, name: str, local: LocalSubgraph, *, down: bool
    ) -> Transport:
        if self.mode == "inprocess":
            if down:
                return UnreachableTransport(name)
            return InProcessTransport(name, local)
        if down:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                url = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
            assert self.session is not None
            return HTTPTransport(name, url, self.session)
        assert self.session is not None
        server = await self.aiohttp_server(create_subgraph_app(local))
        return HTTPTransport(name, str(server.make_url("/graphql")), self.session)


async def scenario_engine(
    scenario: Scenario, reach_subgraph: Reach | None = None
) -> Engine:
    if reach_subgraph is None:
        reach_subgraph = Reach("inprocess", None, None)
    supergraph = compose_scenario(scenario)
    bindables: Mapping[str, list[Any]] = scenario.resolvers.SUBGRAPHS
    transports: dict[str, Transport] = {}
    for name, sdl in scenario.sdl.items():
        schema = make_federated_schema(sdl, *bindables.get(name, []))
        hook = getattr(scenario.resolvers, "SCHEMA_HOOKS", {}).get(name)
        if hook is not None:
            hook(schema)
        transports[name] = await reach_subgraph(
            name, LocalSubgraph(schema, sdl), down=name in scenario.down
        )
    return Engine(supergraph, transports)


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
    async with aiohttp.ClientSession() as session:
        yield session


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
