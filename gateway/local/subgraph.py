"""What an in-process subgraph hands the gateway: ``LocalSubgraph``, ``SourceEvent``.

A resumable subscription source yields ``SourceEvent(id, value)``; the id becomes the
SSE ``id:`` a client resumes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLSchema
from prometheus_client.registry import Collector

from gateway.transports.base import RequestContext

__all__ = ["LocalSubgraph", "SourceEvent", "SubgraphFactory"]


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One event of a resumable subscription source: ``value`` is the root value the
    subscription field resolves from; ``id`` is where a client can resume after it
    (``Last-Event-ID``)."""

    id: str
    value: Any


@dataclass(frozen=True, slots=True)
class LocalSubgraph:
    """What an in-process subgraph module hands the gateway.

    ``schema`` is an executable federation subgraph schema (it answers
    ``_service { sdl }`` and ``_entities``); ``sdl`` is that SDL. ``lifespan``, when
    given, is entered once at start-up and exited at shutdown (open a database, start
    background tasks, close subprocesses). ``context`` builds the resolvers'
    ``context_value`` for each request.
    """

    schema: GraphQLSchema
    sdl: str
    lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    context: Callable[[RequestContext], Any] | None = None
    collectors: tuple[Collector, ...] = ()
    """Prometheus collectors of the subgraph's own figures; the gateway serves
    them on its ``/metrics``."""


SubgraphFactory = Callable[[Mapping[str, Any]], LocalSubgraph]
