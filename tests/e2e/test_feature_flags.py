"""Cosmo's feature flags through a real ``gateway serve``: two flags, each picked by
the ``X-Feature-Flag`` header or the ``feature_flag`` cookie; and a config with an
event-driven subgraph, refused with one line or served with ``--skip-unsupported``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.processes import GATEWAY, ROOT, StartGateway, free_port

CONFIG = """\
version: 1
feature_flags:
  - name: five
    feature_graphs:
      - name: products_five
        subgraph_name: products
        module: tests.fixtures.shop:products
        options: {count: 5}
  - name: one
    feature_graphs:
      - name: products_one
        subgraph_name: products
        module: tests.fixtures.shop:products
        options: {count: 1}
subgraphs:
  - name: products
    module: tests.fixtures.shop:products
  - name: reviews
    module: tests.fixtures.shop:reviews
"""

EVENTS_SDL = """\
type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["e.1"])
}
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
"""

QUERY = "{ topProducts(first: 10) { upc reviews { body } } }"


async def count(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> int:
    async with session.post(
        url, json={"query": QUERY}, headers=headers or {}, cookies=cookies or {}
    ) as response:
        body: dict[str, Any] = await response.json()
    assert "errors" not in body, body
    return len(body["data"]["topProducts"])


async def test_the_header_or_cookie_picks_each_feature_flags_graph(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    config = tmp_path / "supergraph.yaml"
    config.write_text(CONFIG)
    gateway = await start_gateway(
        config, args=["--metrics-addr", f"127.0.0.1:{free_port()}"]
    )
    async with aiohttp.ClientSession() as session:
        assert await count(session, gateway.url) == 3
        assert await count(session, gateway.url, {"X-Feature-Flag": "five"}) == 5
        assert await count(session, gateway.url, {"X-Feature-Flag": "one"}) == 1
        assert await count(session, gateway.url, cookies={"feature_flag": "five"}) == 5
        # The header wins over the cookie; an unknown flag is the base graph.
        assert (
            await count(
                session,
                gateway.url,
                {"X-Feature-Flag": "one"},
                {"feature_flag": "five"},
            )
            == 1
        )
        assert await count(session, gateway.url, {"X-Feature-Flag": "nope"}) == 3


async def run_gateway(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *GATEWAY,
        *argv,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_an_event_driven_subgraph_is_refused_in_one_line_or_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "events.graphqls").write_text(EVENTS_SDL)
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        CONFIG
        + "  - name: employeeupdated\n    schema:\n      file: ./events.graphqls\n"
    )
    code, out = await run_gateway("compose", "--config", str(config))
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"{config}:{CONFIG.count(chr(10)) + 1}:" in lines[0]
    assert "employeeupdated" in lines[0] and "not supported" in lines[0]
    code, out = await run_gateway(
        "compose", "--config", str(config), "--skip-unsupported"
    )
    assert code == 0, out
    assert "left out:" in out and "employeeupdated" in out
    assert "topProducts" in out
