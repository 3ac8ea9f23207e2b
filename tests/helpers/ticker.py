"""The ticker fixture subgraph through a real gateway: its config and operations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.processes import GatewayProcess, free_port

__all__ = ["config", "eventually", "graphql", "listeners", "publish"]


def config(
    tmp_path: Path,
    ticker: str = "module: tests.fixtures.ticker:ticker",
    **gateway: Any,
) -> Path:
    settings = {"heartbeat_interval": 0.2, **gateway}
    lines = [
        "version: 1",
        "subgraphs:",
        "  - name: ticker",
        *(f"    {line}" for line in ticker.splitlines()),
        "  - name: products",
        "    module: tests.fixtures.shop:products",
        "gateway:",
        *(f"  {key}: {value}" for key, value in settings.items()),
    ]
    path = tmp_path / f"supergraph-{free_port()}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def graphql(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    async with session.post(
        gateway.url, json={"query": query, "variables": variables or {}}
    ) as response:
        body: dict[str, Any] = await response.json()
    assert "errors" not in body, body
    return body["data"]


async def publish(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    topic: str,
    *texts: str,
) -> None:
    for text in texts:
        await graphql(
            session,
            gateway,
            "mutation ($t: String!, $x: String!) "
            '{ publish(topic: $t, text: $x, upc: "p1") { seq } }',
            {"t": topic, "x": text},
        )


async def eventually(check: Callable[[], Any], what: str) -> None:
    """Poll ``check`` until it is true (bounded, so a failure cannot hang)."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def listeners(
    session: aiohttp.ClientSession, gateway: GatewayProcess, topic: str
) -> int:
    data = await graphql(
        session, gateway, "query ($t: String!) { listeners(topic: $t) }", {"t": topic}
    )
    return int(data["listeners"])
