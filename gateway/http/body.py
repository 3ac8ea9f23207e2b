"""Request bodies read within bounds: a size cap, a deadline, and ``Content-Encoding``
decoded here (aiohttp's own decoding is off) with the same cap on the decoded size.

A client that sends its body too slowly (a partial body, an endless chunked body)
gets 408 when ``limits.body_read_timeout`` passes; a body over the limit, encoded or
decoded (a compression bomb), gets 413; a body that does not decode gets 400
(``BAD_CONTENT_ENCODING``); an encoding the gateway does not speak gets 415. Every one
of them is a GraphQL error, never aiohttp's text 500.
See https://www.rfc-editor.org/rfc/rfc9110#section-8.4
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.errors import (
    BadRequestError,
    PayloadTooLargeError,
    RequestTimeoutError,
)

__all__ = ["CONTENT_CODINGS", "decode_body", "handler_args", "read_body"]

CONTENT_CODINGS = ("identity", "gzip", "x-gzip", "deflate")
"""What a request body may be encoded with."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


LINGERING_TIME = 1.0
"""Seconds a body left unread after the answer (a 408, a 413) is still drained
before the connection closes (aiohttp's default is 10)."""


def handler_args(keepalive_timeout: float) -> Mapping[str, Any]:
    """aiohttp request-handler settings of every server the gateway runs: idle
    keep-alive connections close after ``keepalive_timeout`` seconds, a body left
    unread is drained for at most ``LINGERING_TIME``, and bodies are decoded by
    ``read_body`` (with a cap), not by aiohttp."""
    return {
        "keepalive_timeout": keepalive_timeout,
        "lingering_time": LINGERING_TIME,
        "auto_decompress": False,
    }


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is over the limit of {max_bytes} bytes"
    )


def _decode_one(coding: str, data: bytes, max_bytes: int) -> bytes:
    if coding == "identity":
        return data
    if coding == "deflate":
        # RFC 9110 says zlib-wrapped; some clients send raw deflate.
        wbits = zlib.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        wbits = _WBITS[coding]
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(data, max_bytes + 1)
        if len(out) > max_bytes or decoder.unconsumed_tail:
            raise _too_large(max_bytes)
        out += decoder.flush()
    except zlib.error as exc:
        raise BadRequestError(
            f"the request body is not valid {coding}: {exc}",
            code="BAD_CONTENT_ENCODING",
        ) from None
    if len(out) > max_bytes:
        raise _too_large(max_bytes)
    if not decoder.eof:
        raise BadRequestError(
            f"the request body is truncated {coding} data",
            code="BAD_CONTENT_ENCODING",
        )
    return out


def decode_body(content_encoding: str | None, data: bytes, max_bytes: int) -> bytes:
    """``data`` decoded by each coding of ``Content-Encoding``, in reverse order of
    application; the result is at most ``max_bytes``."""
    codings = [
        c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()
    ]
    for coding in reversed(codings):
        if coding not in CONTENT_CODINGS:
            raise BadRequestError(
                f"unsupported Content-Encoding {coding!r}; "
                f"accepted: {', '.join(CONTENT_CODINGS)}",
                code="UNSUPPORTED_CONTENT_ENCODING",
                status=415,
                headers={"Accept-Encoding": "gzip, deflate"},
            )
        data = _decode_one(coding, data, max_bytes)
    return data


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, decoded, or a ``RequestError``."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLargeError(
            f"the request body is {request.content_length} bytes; "
            f"the limit is {max_bytes}"
        )
    try:
        if request.content.is_eof():
            data = await request.read()  # all here already (most bodies): no timer
        else:
            async with asyncio.timeout(timeout):
                data = await request.read()
    except TimeoutError:
        raise RequestTimeoutError(
            f"the request body did not arrive within {timeout:g} s",
            headers={"Connection": "close"},
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(max_bytes) from None
    except web.RequestPayloadError as exc:
        raise BadRequestError(
            f"the request body is malformed: {exc.__cause__ or exc}",
            code="BAD_REQUEST_BODY",
        ) from None
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return decode_body(request.headers.get("Content-Encoding"), data, max_bytes)
