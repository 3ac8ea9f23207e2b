"""Reading event streams in tests: raw bytes up to a marker, and SSE frames."""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.sse import Comment, Event, SSEDecoder

__all__ = ["decode", "read_until"]


async def read_until(response: aiohttp.ClientResponse, marker: bytes) -> bytes:
    """Read the stream until ``marker`` has arrived."""
    received = b""
    while marker not in received:
        chunk = await asyncio.wait_for(response.content.readany(), 10)
        assert chunk, f"stream ended before {marker!r}; got {received!r}"
        received += chunk
    return received


def decode(raw: bytes) -> list[Event | Comment]:
    """Every frame of a whole stream; it must not end inside a frame."""
    decoder = SSEDecoder()
    out = decoder.feed(raw)
    assert decoder.close() is False, "the stream ended inside a frame"
    return out
