"""``gateway dev``: serve with reload on, the playground's URL printed, ``--open``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp

from tests.helpers.processes import GATEWAY, ROOT, GatewayProcess, free_port, wait_ready

CONFIG = """\
subgraphs:
  - name: products
    module: tests.fixtures.shop:products
"""


async def test_dev_prints_the_playground_opens_it_and_reloads(tmp_path: Path) -> None:
    config = tmp_path / "supergraph.yaml"
    config.write_text(CONFIG)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *GATEWAY,
            "dev",
            "--config",
            str(config),
            "--port",
            str(port),
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
            "--open",
            cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT), "BROWSER": str(browser)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    gateway = GatewayProcess(process, port, log)
    try:
        await wait_ready(gateway)
        url = f"http://127.0.0.1:{port}/graphql"
        for _ in range(200):
            if opened.exists() and f"Playground: {url}" in gateway.output():
                break
            await asyncio.sleep(0.05)
        assert f"Playground: {url}" in gateway.output()
        assert opened.read_text().strip() == url
        # Reload is on: a second subgraph appears without a restart.
        config.write_text(
            CONFIG + "  - name: reviews\n    module: tests.fixtures.shop:reviews\n"
        )
        query = {"query": "{ topProducts(first: 1) { reviews { body } } }"}
        async with aiohttp.ClientSession() as session:
            for _ in range(400):
                async with session.post(url, json=query) as response:
                    body = await response.json()
                if "errors" not in body:
                    break
                await asyncio.sleep(0.05)
        assert body == {"data": {"topProducts": [{"reviews": [{"body": "Good p1"}]}]}}
    finally:
        await gateway.stop()
