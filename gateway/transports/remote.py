"""A remote subgraph: queries and mutations over HTTP, subscriptions over SSE or WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from gateway.transports.base import SubgraphRequest, SubgraphResult
from gateway.transports.http import HTTPTransport

__all__ = ["RemoteTransport", "StreamTransport"]


class StreamTransport(Protocol):
    """How a remote subgraph's subscriptions are opened (``SSETransport``,
    ``WSTransport``)."""

    name: str
    url: str

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        """One result per event; closing the iterator closes the upstream."""
        ...


class RemoteTransport:
    """One remote subgraph: fetches over HTTP, subscriptions over ``streams``
    (``subscription.protocol`` in supergraph.yaml)."""

    sees_client_headers = False  # it is sent context.headers_to(name) only

    def __init__(self, http: HTTPTransport, streams: StreamTransport) -> None:
        self.name = http.name
        self.http = http
        self.streams = streams
        # The HTTP transport's own method: no coroutine in between on every fetch.
        self.fetch = http.fetch  # type: ignore[method-assign]

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        return await self.http.fetch(request)

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        return self.streams.subscribe(request)
