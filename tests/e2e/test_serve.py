"""The real ``gateway`` process, driven the way curl users and Node clients drive it."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import ROOT, StartGateway

SHOP = ROOT / "tests" / "fixtures" / "shop.yaml"
NODE_DIR = ROOT / "tests" / "node"


async def run(
    *argv: str, stdin: bytes | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_curl_gets_data_joined_across_subgraphs(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(SHOP)
    code, out, err = await run(
        "curl",
        "-s",
        gateway.url,
        "-H",
        "content-type: application/json",
        "-d",
        '{"query":"{ topProducts(first: 2) { upc name reviews { body } } }"}',
    )
    assert code == 0, err
    assert json.loads(out) == {
        "data": {
            "topProducts": [
                {"upc": "p1", "name": "Product 1", "reviews": [{"body": "Good p1"}]},
                {"upc": "p2", "name": "Product 2", "reviews": [{"body": "Good p2"}]},
            ]
        }
    }


async def test_graphql_http_audit_passes_every_must(
    start_gateway: StartGateway,
) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "graphql-http").exists():
        pytest.fail(
            "Node.js and tests/node/node_modules are needed: run ./scripts/test"
        )
    gateway = await start_gateway(SHOP)
    code, out, err = await run(node, str(NODE_DIR / "audit.mjs"), gateway.url)
    assert code == 0, err
    results: list[dict[str, Any]] = json.loads(out)
    failed_musts = [r for r in results if r["status"] == "error"]
    warnings = [r for r in results if r["status"] == "warn"]
    counts = {
        status: sum(1 for r in results if r["status"] == status)
        for status in ("ok", "warn", "error")
    }
    print(f"graphql-http audit: {counts}; warnings: {[w['name'] for w in warnings]}")
    assert not failed_musts, json.dumps(failed_musts, indent=2)
    assert counts["ok"] > 0


async def test_sigterm_shuts_down_promptly_and_cleanly(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(SHOP)
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await gateway.stop(signal.SIGTERM)
    assert code == 0, gateway.output()
    assert loop.time() - started < 5.0 + 1.0
    assert "Traceback" not in gateway.output()


async def test_a_bad_config_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "version: 1\nsubgraphs:\n  - name: a\n    routing_url: not-a-url\n"
        "    schema:\n      file: a.graphql\n"
    )
    code, _, err = await run(
        sys.executable, "-m", "gateway", "serve", "--config", str(config)
    )
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(config) in lines[0]
    assert "Traceback" not in err


async def test_compose_prints_the_client_schema() -> None:
    code, out, err = await run(
        sys.executable, "-m", "gateway", "compose", "--config", str(SHOP)
    )
    assert code == 0, err
    assert "type Product" in out
    assert "reviews: [Review!]!" in out
    assert "_entities" not in out and "@key" not in out


async def test_compose_reports_conflicts_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a.graphql").write_text("type Query { hello: String }")
    (tmp_path / "b.graphql").write_text("type Query { hello: Int }")
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "version: 1\nsubgraphs:\n"
        "  - name: a\n    routing_url: http://127.0.0.1:1/graphql\n    schema: {file: a.graphql}\n"
        "  - name: b\n    routing_url: http://127.0.0.1:1/graphql\n    schema: {file: b.graphql}\n"
    )
    code, _, err = await run(
        sys.executable, "-m", "gateway", "compose", "--config", str(config)
    )
    assert code == 1
    assert "hello" in err and "a" in err and "b" in err
    assert "Traceback" not in err


async def test_plan_prints_the_fetches() -> None:
    code, out, err = await run(
        sys.executable,
        "-m",
        "gateway",
        "plan",
        "--config",
        str(SHOP),
        "{ topProducts { name reviews { body } } }",
    )
    assert code == 0, err
    assert "products" in out and "reviews" in out
    assert "Flatten" in out  # the reviews fetch is an entity fetch


async def test_plan_json_prints_the_plan_as_extensions_query_plan_has_it() -> None:
    code, out, err = await run(
        sys.executable,
        "-m",
        "gateway",
        "plan",
        "--json",
        "--config",
        str(SHOP),
        "{ topProducts { name reviews { body } } }",
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["kind"] == "QueryPlan"
    assert [n["kind"] for n in plan["node"]["nodes"]] == ["Fetch", "Flatten"]
    assert plan["node"]["nodes"][1]["node"]["serviceName"] == "reviews"
