"""How a fetch reaches a subgraph: over HTTP, over SSE, or in-process."""

from __future__ import annotations

from gateway.transports.base import (
    RequestContext,
    SubgraphRequest,
    SubgraphResult,
    Transport,
)

__all__ = ["RequestContext", "SubgraphRequest", "SubgraphResult", "Transport"]
