"""Subgraph servers the end-to-end tests start: the ticker fixture on its own port."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.helpers.processes import ROOT

__all__ = ["start_ticker", "stop"]


async def start_ticker(
    port: int, log: Path, module: str = "tests.fixtures.ticker"
) -> asyncio.subprocess.Process:
    """The ticker (or another fixture with a ``main``) served on ``port``."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "--port",
            str(port),
            cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()
