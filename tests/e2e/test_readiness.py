"""Readiness that tells the truth, and a remote subgraph that starts after the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.processes import (
    GatewayProcess,
    StartGateway,
    free_port,
    wait_ready,
)
from tests.helpers.subgraphs import start_ticker, stop

TICKER = "subscription { count(to: 1) }"


async def wait_for_log(gateway: GatewayProcess, text: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in gateway.output():
        assert gateway.process.returncode is None, gateway.output()
        assert loop.time() < deadline, gateway.output()
        await asyncio.sleep(0.05)


async def ready(gateway: GatewayProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{gateway.base}/health/ready") as response:
            return response.status, await response.json()


def remote_config(tmp_path: Path, port: int, wait: str = "60s") -> Path:
    path = tmp_path / "supergraph.yaml"
    path.write_text(
        "subgraphs:\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        "  - name: ticker\n"
        f"    routing_url: http://127.0.0.1:{port}/graphql\n"
        "gateway:\n"
        f"  startup_wait: {wait}\n"
    )
    return path


async def test_a_subgraph_that_starts_late_is_awaited_not_fatal(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    port = free_port()
    gateway = await start_gateway(
        remote_config(tmp_path, port),
        args=["--metrics-addr", f"127.0.0.1:{free_port()}"],
        wait=False,
    )
    await wait_for_log(gateway, "waiting for subgraph 'ticker'")
    ticker = await start_ticker(port, tmp_path / "ticker.log")
    try:
        await wait_ready(gateway)
        assert "subgraph 'ticker' answered after" in gateway.output()
        status, body = await ready(gateway)
        assert status == 200
        subgraphs = {s["name"]: s for s in body["subgraphs"]}
        assert subgraphs["ticker"]["kind"] == "remote"
        assert subgraphs["ticker"]["last_fetch"] is None
        async with aiohttp.ClientSession() as session:
            async with session.post(
                gateway.url, json={"query": '{ listeners(topic: "t") }'}
            ) as response:
                assert (await response.json()) == {"data": {"listeners": 0}}
        status, body = await ready(gateway)
        ticker_health = {s["name"]: s for s in body["subgraphs"]}["ticker"]
        assert ticker_health["last_fetch"]["outcome"] == "success"
        # The subgraph goes away: readiness shows its last fetch failed.
        await stop(ticker)
        async with aiohttp.ClientSession() as session:
            async with session.post(
                gateway.url, json={"query": '{ listeners(topic: "t") }'}
            ) as response:
                body = await response.json()
                assert body["errors"]
        status, body = await ready(gateway)
        ticker_health = {s["name"]: s for s in body["subgraphs"]}["ticker"]
        assert ticker_health["last_fetch"]["outcome"] == "failure"
    finally:
        await stop(ticker)


async def test_a_subgraph_that_never_starts_fails_after_the_wait(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    port = free_port()
    gateway = await start_gateway(
        remote_config(tmp_path, port, "1s"),
        args=["--metrics-addr", f"127.0.0.1:{free_port()}"],
        wait=False,
    )
    code = await asyncio.wait_for(gateway.process.wait(), 60)
    assert code != 0
    output = gateway.output()
    assert "waiting for subgraph 'ticker'" in output
    assert "cannot introspect subgraph 'ticker'" in output
    assert "Traceback" not in output
