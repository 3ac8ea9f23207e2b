"""The real gateway process for end-to-end tests: start it, wait until ready, stop it."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

__all__ = [
    "GATEWAY",
    "ROOT",
    "GatewayProcess",
    "StartGateway",
    "free_port",
    "wait_ready",
]


ROOT = Path(__file__).resolve().parents[2]


GATEWAY = [sys.executable, "-m", "gateway"]


_GIVEN: set[int] = set()
"""Ports handed out in this process: two callers that have not bound theirs yet
must not get the same one (the kernel would happily give it twice)."""


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@dataclass
class GatewayProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode if self.process.returncode is not None else -1


StartGateway = Callable[..., Awaitable[GatewayProcess]]


async def wait_ready(gateway: GatewayProcess, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if gateway.process.returncode is not None:
                raise RuntimeError(
                    f"gateway exited with {gateway.process.returncode}:\n{gateway.output()}"
                )
            try:
                async with session.get(f"{gateway.base}/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"gateway not ready in {timeout}s:\n{gateway.output()}"
                )
            await asyncio.sleep(0.1)
