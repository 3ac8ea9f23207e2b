"""The one place where a subgraph's aiohttp, OS and JSON faults become ``SubgraphError``.

As httpx's ``map_httpcore_exceptions``: nothing else in the gateway turns a foreign
exception of subgraph I/O into one of ours.

Transports wrap their I/O in ``mapped_errors(service, url)`` and decode bodies with
``decode_graphql_response``; nothing else in the gateway catches aiohttp's exceptions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    SubgraphBadResponseError,
    SubgraphError,
    SubgraphHTTPError,
    SubgraphTimeoutError,
    SubgraphUnreachableError,
)
from gateway.transports.base import SubgraphResult

__all__ = [
    "FOREIGN_ERRORS",
    "decode_graphql_response",
    "map_client_errors",
    "mapped",
    "mapped_errors",
]

logger = logging.getLogger("gateway.transports.boundary")

FOREIGN_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    aiohttp.ClientError,
    OSError,
)
"""What a subgraph's I/O can raise that is not ours."""


@contextmanager
def mapped_errors(
    service: str,
    url: str,
    what: str = "request",
    *,
    idle_timeout: float | None = None,
) -> Iterator[None]:
    """Run a block of subgraph I/O; a foreign error leaves it as a ``SubgraphError``
    (chained to the original). With ``idle_timeout``, the block reads a stream whose
    read timeout is that many seconds of silence."""
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise mapped(exc, service, url, what, idle_timeout) from exc


def mapped(
    exc: BaseException,
    service: str,
    url: str,
    what: str = "request",
    idle_timeout: float | None = None,
) -> SubgraphError:
    """What ``mapped_errors`` raises for a foreign error ``exc`` (for a hot path that
    catches ``FOREIGN_ERRORS`` itself), logged."""
    # The URL and the foreign error stay here, in the log; clients get the
    # subgraph's name (its URL and aiohttp's words are the server's business).
    logger.warning("%s to subgraph %s at %s failed: %r", what, service, url, exc)
    if idle_timeout is not None and isinstance(exc, aiohttp.ServerTimeoutError):
        return SubgraphTimeoutError(
            f"subgraph {service!r} sent nothing on its stream for {idle_timeout} s",
            service=service,
        )
    return map_client_errors(exc, service=service, url=url)


def map_client_errors(exc: BaseException, *, service: str, url: str) -> SubgraphError:
    """The one place aiohttp/OS errors become gateway errors. Their messages name
    the subgraph, never its URL or the foreign error's text (``url`` is for the
    caller's log)."""
    del url
    if isinstance(exc, SubgraphError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return SubgraphTimeoutError(
            f"subgraph {service!r} did not answer in time", service=service
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return SubgraphUnreachableError(
            f"subgraph {service!r} has an invalid URL", service=service
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return SubgraphHTTPError(
            f"subgraph {service!r} answered HTTP {exc.status}",
            service=service,
            status=exc.status,
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return SubgraphBadResponseError(
            f"subgraph {service!r} sent a broken response body", service=service
        )
    return SubgraphUnreachableError(
        f"subgraph {service!r} is unreachable", service=service
    )


def decode_graphql_response(
    body: bytes, *, service: str, status: int, content_type: str
) -> SubgraphResult:
    """Parse a subgraph's response body; anything but a GraphQL response is an error.

    A non-2xx status with a well-formed GraphQL body (``data`` absent or null and
    ``errors`` present) is passed through, as GraphQL over HTTP allows 4xx for request
    errors; any other non-2xx status is a ``SubgraphHTTPError``.
    """
    try:
        decoded = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        decoded = None
    is_graphql = isinstance(decoded, dict) and (
        "data" in decoded or "errors" in decoded
    )
    if status >= 300 and not (is_graphql and status < 500 and decoded.get("errors")):  # type: ignore[union-attr]
        raise SubgraphHTTPError(
            f"subgraph {service!r} answered HTTP {status}",
            service=service,
            status=status,
        )
    if not is_graphql:
        kind = content_type or "no content type"
        raise SubgraphBadResponseError(
            f"subgraph {service!r} did not answer with a GraphQL response ({kind})",
            service=service,
            status=status,
        )
    result: dict[str, Any] = decoded  # type: ignore[assignment]
    errors = result.get("errors")
    if errors is not None and not isinstance(errors, list):
        raise SubgraphBadResponseError(
            f"subgraph {service!r} sent 'errors' that is not a list", service=service
        )
    data = result.get("data")
    if data is not None and not isinstance(data, dict):
        raise SubgraphBadResponseError(
            f"subgraph {service!r} sent 'data' that is not an object", service=service
        )
    return result  # type: ignore[return-value]
