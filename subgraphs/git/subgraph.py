"""``create_subgraph(options)``: the git subgraph as a ``LocalSubgraph``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from gateway.local import LocalSubgraph, inherits
from gateway.transports.base import RequestContext
from subgraphs.federation import Entity, make_federated_schema
from subgraphs.git.config import GitOptions
from subgraphs.git.limiter import GitLimiter
from subgraphs.git.models import SessionRef
from subgraphs.git.paths import PathGuard
from subgraphs.git.repository import GitService
from subgraphs.git.schema import ROOT_TYPES, GitContext, resolve_session_reference
from subgraphs.git.watcher import RepositoryWatcher

__all__ = ["create_subgraph"]


@inherits("roots")  # gateway.roots, unless options.roots
def create_subgraph(options: Mapping[str, Any] | None = None) -> LocalSubgraph:
    """Options (all optional): ``roots`` (dirs; default the current directory),
    ``max_output_bytes``, ``poll_interval`` (seconds), ``max_concurrency`` (git
    operations at once), ``timeout`` (seconds per operation). ``ConfigError``
    names a bad one."""
    config = GitOptions.from_mapping(options or {})
    limiter = GitLimiter(config.max_concurrency, config.timeout)
    service = GitService(PathGuard(config.roots), limiter, config.max_output_bytes)
    watcher = RepositoryWatcher(config.poll_interval)
    federated = make_federated_schema(
        *ROOT_TYPES,
        entities=[Entity("Session", SessionRef, resolve_session_reference)],
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await watcher.close()
            limiter.close()

    def context(request: RequestContext) -> GitContext:
        return GitContext(service=service, watcher=watcher, request=request)

    return LocalSubgraph(
        schema=federated.schema, sdl=federated.sdl, lifespan=lifespan, context=context
    )
