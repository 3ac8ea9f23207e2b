"""``gateway serve --supergraph FILE``: the real process, started from a supergraph SDL
another composer wrote, answers a scenario's query exactly as the scenario expects.

The scenario's subgraphs run as HTTP servers on loopback; The Guild's composer
(tests/node/compose.mjs) composes their SDL with those URLs into a supergraph SDL,
which is all the gateway is given.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ariadne.contrib.federation import make_federated_schema

from gateway.http.subgraph_app import create_subgraph_app
from gateway.local import LocalSubgraph
from tests.e2e.conftest import ROOT, StartGateway
from tests.scenarios.harness import SCENARIOS_DIR, load_scenario

NODE_DIR = ROOT / "tests" / "node"


def reference_supergraph(subgraphs: list[dict[str, str]]) -> str:
    node = shutil.which("node")
    if (
        node is None
        or not (
            NODE_DIR / "node_modules" / "@theguild" / "federation-composition"
        ).is_dir()
    ):
        pytest.fail(
            "Node.js and tests/node/node_modules are needed: run ./scripts/test"
        )
    completed = subprocess.run(
        [node, str(NODE_DIR / "compose.mjs")],
        input=json.dumps({"case": subgraphs}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout)["case"]
    assert result["ok"], result["errors"]
    return str(result["supergraphSdl"])


@pytest.mark.parametrize("name", ["three_hop_join", "requires", "interface_object"])
async def test_serve_from_a_supergraph_sdl_answers_as_from_the_subgraphs(
    name: str, aiohttp_server: Any, start_gateway: StartGateway, tmp_path: Path
) -> None:
    folder = SCENARIOS_DIR / name
    scenario = load_scenario(folder)
    subgraphs: list[dict[str, str]] = []
    for subgraph, sdl in scenario.sdl.items():
        schema = make_federated_schema(sdl, *scenario.resolvers.SUBGRAPHS[subgraph])
        hook = getattr(scenario.resolvers, "SCHEMA_HOOKS", {}).get(subgraph)
        if hook is not None:
            hook(schema)
        server = await aiohttp_server(create_subgraph_app(LocalSubgraph(schema, sdl)))
        subgraphs.append(
            {"name": subgraph, "sdl": sdl, "url": str(server.make_url("/graphql"))}
        )
    supergraph_sdl = reference_supergraph(subgraphs)
    supergraph_file = tmp_path / "supergraph.graphql"
    supergraph_file.write_text(supergraph_sdl)

    gateway = await start_gateway(
        tmp_path / "unused.yaml", args=["--supergraph", str(supergraph_file)]
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(
            gateway.url, json={"query": (folder / "query.graphql").read_text()}
        ) as response:
            assert response.status == 200
            body = await response.json()
    expected = json.loads((folder / "expected.json").read_text())
    assert json.dumps(body, indent=2) == json.dumps(expected, indent=2)
