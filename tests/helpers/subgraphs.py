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
    """The ticker (or another fixture with a ``main``) served on ``port``, returned
    once it accepts connections (so a test never races its start-up)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
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
    for _ in range(600):
        if process.returncode is not None:
            raise RuntimeError(f"{module} exited at start-up (see {log})")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return process
    process.terminate()
    await process.wait()
    raise RuntimeError(f"{module} did not listen on port {port} (see {log})")


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()
