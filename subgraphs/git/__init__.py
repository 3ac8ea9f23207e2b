"""The git subgraph: local repositories read with libgit2 (pygit2), never the ``git`` command."""

from __future__ import annotations

from subgraphs.git.subgraph import create_subgraph

__all__ = ["create_subgraph"]
