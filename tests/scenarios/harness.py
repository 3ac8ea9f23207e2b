"""The scenario harness: load a scenario folder, compose it, and run it on an engine."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ariadne.contrib.federation import make_federated_schema

from gateway.config import load_config
from gateway.engine import Engine
from gateway.errors import SubgraphUnreachableError
from gateway.http.subgraph_app import create_subgraph_app
from gateway.local import LocalSubgraph
from gateway.supergraph import Supergraph
from gateway.transports.base import SubgraphRequest, SubgraphResult, Transport
from gateway.transports.h1 import HTTP1Client
from gateway.transports.http import HTTPTransport
from gateway.transports.inprocess import InProcessTransport

__all__ = [
    "SCENARIOS",
    "SCENARIOS_DIR",
    "Reach",
    "Scenario",
    "UnreachableTransport",
    "compose_scenario",
    "load_scenario",
    "scenario_engine",
]


SCENARIOS_DIR = Path(__file__).parent


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

    sees_client_headers = False

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
        self, mode: str, aiohttp_server: Any, client: HTTP1Client | None
    ) -> None:
        self.mode = mode
        self.aiohttp_server = aiohttp_server
        self.client = client

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
            assert self.client is not None
            return HTTPTransport(name, url, self.client)
        assert self.client is not None
        server = await self.aiohttp_server(create_subgraph_app(local))
        return HTTPTransport(name, str(server.make_url("/graphql")), self.client)


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
