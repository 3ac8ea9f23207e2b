"""The SDK in-process subgraphs import: ``LocalSubgraph``, ``SourceEvent``, the loader.

A subgraph package builds a ``LocalSubgraph`` from a factory; the gateway loads it
with ``module: package.module:factory`` (``load_local_subgraph``) and runs it in its
own process, or ``gateway.local.standalone.main`` serves it on its own port.
``@inherits("roots")`` on a factory gives it ``gateway.roots`` (``settings``).
"""

from __future__ import annotations

from gateway.local.loader import load_local_subgraph
from gateway.local.settings import inherits
from gateway.local.subgraph import LocalSubgraph, SourceEvent, SubgraphFactory

__all__ = [
    "LocalSubgraph",
    "SourceEvent",
    "SubgraphFactory",
    "inherits",
    "load_local_subgraph",
]
