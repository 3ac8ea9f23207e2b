"""The one seam between the executor and a subgraph: ``Transport``.

A transport turns a ``SubgraphRequest`` into a ``SubgraphResult`` (a GraphQL response
body) or raises a ``gateway.errors.SubgraphError``. Foreign exceptions (aiohttp, OS,
JSON) are mapped to ``SubgraphError`` inside the transport, in one place, the way httpx
maps httpcore's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NotRequired, Protocol, TypedDict

from graphql import DocumentNode
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "RequestContext",
    "SharedResult",
    "SubgraphRequest",
    "SubgraphResult",
    "Transport",
]


class SubgraphResult(TypedDict):
    """A GraphQL response body as a subgraph sends it."""

    data: NotRequired[dict[str, Any] | None]
    errors: NotRequired[list[dict[str, Any]]]
    extensions: NotRequired[dict[str, Any]]


class SharedResult(dict[str, Any]):
    """A ``SubgraphResult`` whose contents other fetches hold too (one decoded
    answer shared by identical fetches in flight): whoever receives it must not
    change anything inside it (the executor copies on write)."""

    __slots__ = ()


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_NO_FORWARD: Mapping[str, Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the gateway knows of the client request that caused a fetch.

    ``forward`` holds, per subgraph name, the headers to send that subgraph: the
    edge decides them once per client request from the propagation rules
    (``gateway.headers``); remote transports send exactly those. In-process
    subgraphs receive the whole context (``headers`` too) in their resolvers'
    context.
    """

    headers: CIMultiDictProxy[str] = field(
        default_factory=lambda: CIMultiDictProxy(CIMultiDict())
    )
    remote: str | None = None
    """The client's address, when known."""
    forward: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: _NO_FORWARD
    )
    """Subgraph name -> the headers to send it (absent: none)."""
    request_id: str | None = None
    """Names this request in the gateway's log (and in ``extensions.requestId`` of
    an internal error)."""
    claims: Mapping[str, Any] | None = None
    """The verified token's claims (``gateway.authentication``), ``None`` without
    one. In-process subgraphs read them here; remote subgraphs get only what the
    header rules set from them."""

    def headers_to(self, service: str) -> Mapping[str, str]:
        """The headers to send subgraph ``service``."""
        return self.forward.get(service, _NO_HEADERS)


@dataclass(frozen=True, slots=True)
class SubgraphRequest:
    """One operation for one subgraph."""

    query: str
    """The operation's text, as sent over HTTP."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    operation_name: str | None = None
    document: DocumentNode | None = None
    """``query`` already parsed (plans cache it): in-process transports run it
    without parsing again."""
    context: RequestContext = field(default_factory=RequestContext)
    extensions: Mapping[str, Any] | None = None


class Transport(Protocol):
    """How the executor reaches one subgraph."""

    name: str
    """The subgraph's name, for errors (``extensions.serviceName``)."""

    sees_client_headers: bool
    """True when the subgraph's resolvers see the whole client request (in-process
    subgraphs); False when it sees only ``context.headers_to(name)``. Identical
    subscriptions share an upstream only when what the subgraph sees is equal."""

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        """Run a query or mutation. Raises ``SubgraphError`` on transport faults;
        GraphQL errors come back inside the result."""
        ...

    def subscribe(self, request: SubgraphRequest) -> AsyncIterator[SubgraphResult]:
        """Run a subscription: one result per event. Closing the iterator
        (``aclose()``) closes the upstream. Raises ``SubgraphError`` on faults."""
        ...
