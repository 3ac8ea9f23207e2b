"""Real client libraries against the real ``gateway serve``: each README snippet runs.

The README's client snippets (``<!-- run: NAME -->`` before a fenced block) are
extracted and run as their users run them, with the gateway's address in place of
``localhost:4000``: Apollo Client 4 (query through APQ, subscription over multipart),
urql with its default exchanges, graphql-sse in both modes, curl and Python's gql.
Apollo Client 3 runs the same operations from ``tests/node/clients/apollo3.cjs``. The
npm packages come from ``tests/node/clients`` (``scripts/lib/node-deps.sh``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers.multipart import parse_multipart
from tests.helpers.processes import ROOT, GatewayProcess, StartGateway, free_port
from tests.helpers.readme import snippets

CLIENTS = ROOT / "tests" / "node" / "clients"
NODE_MODULES = CLIENTS / "node_modules"
COUNTS = [{"count": 1}, {"count": 2}, {"count": 3}]
LISTENERS = {"listeners": 0}


def needs_node() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (scripts/lib/system-deps.sh installs it)")
    if not NODE_MODULES.is_dir():
        pytest.fail("the client packages are missing: run scripts/lib/node-deps.sh")


def config(tmp_path: Path) -> Path:
    path = tmp_path / f"supergraph-{free_port()}.yaml"
    path.write_text(
        "version: 1\n"
        "subgraphs:\n"
        "  - name: ticker\n"
        "    module: tests.fixtures.ticker:ticker\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        "gateway:\n"
        "  multipart_heartbeat_interval: 0.5\n"
    )
    return path


async def run(*argv: str, cwd: Path, timeout: float = 60.0) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        return -1, out.decode(), "timed out\n" + err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_snippet(name: str, gateway: GatewayProcess, tmp_path: Path) -> str:
    """Run the README snippet ``name`` against ``gateway``; its stdout."""
    body = snippets()[name].replace("localhost:4000", f"127.0.0.1:{gateway.port}")
    folder = tmp_path / "snippet"
    folder.mkdir(exist_ok=True)
    if not (folder / "node_modules").exists():
        (folder / "node_modules").symlink_to(NODE_MODULES)
    script = folder / name
    script.write_text(body)
    if name.endswith(".sh"):
        argv = ["bash", str(script)]
    elif name.endswith(".py"):
        argv = [sys.executable, str(script)]
    else:
        argv = ["node", str(script)]
    code, out, err = await run(*argv, cwd=folder)
    assert code == 0, f"{name} failed ({code}):\n{out}\n{err}"
    return out


def json_lines(out: str) -> list[object]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
async def gateway(start_gateway: StartGateway, tmp_path: Path) -> GatewayProcess:
    return await start_gateway(config(tmp_path))


def test_every_client_in_the_readme_has_a_snippet_that_runs() -> None:
    assert set(snippets()) == {
        "curl.sh",
        "eventsource.js",
        "graphql-sse.mjs",
        "apollo-client.mjs",
        "urql.mjs",
        "gql_client.py",
    }


async def test_apollo_client_4_queries_through_apq_and_subscribes_over_multipart(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    needs_node()
    out = await run_snippet("apollo-client.mjs", gateway, tmp_path)
    lines = out.splitlines()
    assert [json.loads(line) for line in lines[:-1]] == [LISTENERS, *COUNTS]
    assert lines[-1] == "complete"


async def test_apollo_client_3_queries_through_apq_and_subscribes_over_multipart(
    gateway: GatewayProcess,
) -> None:
    needs_node()
    code, out, err = await run("node", "apollo3.cjs", gateway.url, cwd=CLIENTS)
    assert code == 0, out + err
    lines = out.splitlines()
    assert [json.loads(line) for line in lines[:-1]] == [LISTENERS, *COUNTS]
    assert lines[-1] == "complete"


async def test_urql_with_default_exchanges_gets_json_for_queries_and_streams(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    needs_node()
    out = await run_snippet("urql.mjs", gateway, tmp_path)
    lines = out.splitlines()
    assert [json.loads(line) for line in lines[:-1]] == [LISTENERS, *COUNTS]
    assert lines[-1] == "complete"


async def test_graphql_sse_client_in_both_modes(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    needs_node()
    out = await run_snippet("graphql-sse.mjs", gateway, tmp_path)
    results = [{"data": count} for count in COUNTS]
    assert json_lines(out) == results + results


async def test_curl_gets_json_sse_and_multipart(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed")
    out = await run_snippet("curl.sh", gateway, tmp_path)
    query, end = json.JSONDecoder().raw_decode(out)  # curl adds no line break
    assert query == {"data": LISTENERS}
    rest = out[end:]
    sse, _, multipart = rest.partition("event: complete\ndata: \n\n")
    assert [
        json.loads(line[len("data: ") :])
        for line in sse.splitlines()
        if line.startswith("data: ")
    ] == [{"data": count} for count in COUNTS]
    parts, closed = parse_multipart(("\r\n" + multipart.lstrip("\n")).encode())
    assert [part for part in parts if part != {}] == [
        {"payload": {"data": count}} for count in COUNTS
    ]
    assert closed


async def test_python_gql_runs_a_query(gateway: GatewayProcess, tmp_path: Path) -> None:
    pytest.importorskip("gql", reason="gql is optional: pip install 'gql[aiohttp]'")
    out = await run_snippet("gql_client.py", gateway, tmp_path)
    assert out.strip() == str(LISTENERS)
