"""Fixtures that start the real ``gateway serve`` process and stop it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import (
    GATEWAY,
    ROOT,
    GatewayProcess,
    StartGateway,
    free_port,
    wait_ready,
)


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    """``await start_gateway(config_path, env={...}, args=[...])`` -> a ready gateway."""
    started: list[GatewayProcess] = []

    async def start(
        config: Path | str,
        *,
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
        wait: bool = True,
    ) -> GatewayProcess:
        port = free_port()
        log = tmp_path / f"gateway-{port}.log"
        full_env: dict[str, Any] = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            **(env or {}),
        }
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *GATEWAY,
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
                *(args or []),
                cwd=str(ROOT),
                env=full_env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        gateway = GatewayProcess(process, port, log)
        started.append(gateway)
        if wait:
            await wait_ready(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()
