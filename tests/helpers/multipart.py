"""A multipart/mixed reader for tests: Apollo's multipart subscription parts, as JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

__all__ = ["CLOSE", "MultipartReader", "parse_multipart"]

CLOSE = object()
"""What ``next()`` returns after the closing delimiter."""


def parse_multipart(body: bytes, boundary: str = "graphql") -> tuple[list[Any], bool]:
    """Every JSON part of a whole body, and whether the closing delimiter came."""
    parts: list[Any] = []
    delimiter = b"\r\n--" + boundary.encode()
    chunks = body.split(delimiter)
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        _, _, content = chunk.partition(b"\r\n\r\n")
        parts.append(orjson.loads(content))
    return parts, closed


class MultipartReader:
    """A multipart response read part by part as it streams."""

    def __init__(self, response: aiohttp.ClientResponse, boundary: str = "graphql"):
        self.response = response
        self.delimiter = b"\r\n--" + boundary.encode()
        self.buffer = b""
        self.closed = False

    async def next(self, timeout: float = 10.0) -> Any:
        """The next part's JSON, or ``CLOSE`` after the closing delimiter."""
        while True:
            start = self.buffer.find(self.delimiter)
            if start >= 0:
                rest = self.buffer[start + len(self.delimiter) :]
                if rest.startswith(b"--"):
                    self.closed = True
                    return CLOSE
                end = rest.find(self.delimiter)
                if end >= 0:
                    _, _, content = rest[:end].partition(b"\r\n\r\n")
                    self.buffer = rest[end:]
                    return orjson.loads(content)
            chunk = await asyncio.wait_for(self.response.content.readany(), timeout)
            if not chunk:
                raise EOFError("the stream ended without the closing delimiter")
            self.buffer += chunk
