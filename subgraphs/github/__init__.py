"""The github subgraph: an adapter over GitHub's REST API v3."""

from __future__ import annotations

from subgraphs.github.subgraph import create_subgraph

__all__ = ["create_subgraph"]
