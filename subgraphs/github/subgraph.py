"""``create_subgraph(options)``: the github subgraph as a ``LocalSubgraph``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.federation import Entity, make_federated_schema
from subgraphs.github.client import GitHubClient
from subgraphs.github.config import GitHubOptions
from subgraphs.github.schema import (
    ROOT_TYPES,
    GitHubContext,
    resolve_repository_reference,
)
from subgraphs.github.service import GitHubService, RepositoryHandle

__all__ = ["create_subgraph"]


def create_subgraph(options: Mapping[str, Any] | None = None) -> LocalSubgraph:
    """Options (all optional): ``api_url`` (else ``GITHUB_API_URL``, else
    https://api.github.com), ``token`` (else ``GITHUB_TOKEN``), ``timeout``
    (seconds). ``ConfigError`` names a bad one."""
    config = GitHubOptions.from_mapping(options or {})
    client = GitHubClient(config)
    service = GitHubService(client)
    federated = make_federated_schema(
        *ROOT_TYPES,
        entities=[
            Entity("GitHubRepository", RepositoryHandle, resolve_repository_reference)
        ],
    )

    def context(request: RequestContext) -> GitHubContext:
        return GitHubContext(service=service, request=request)

    return LocalSubgraph(
        schema=federated.schema,
        sdl=federated.sdl,
        lifespan=client.lifespan,
        context=context,
    )
