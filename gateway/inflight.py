"""Inbound in-flight deduplication: identical concurrent client queries share one run.

Like Hive Gateway's ``inboundInflightRequestDeduplication``: while a query is being
executed, an identical one (``request_key``: same document, operation name,
variables and extensions, and the same everything-the-subgraphs-see of the client)
waits for the first one's result instead of executing again. Only queries share:
mutations and subscriptions never do. The shared computation runs to its end even
when the client that started it goes away, so the others still get their answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import fields
from typing import Any, Generic, TypeVar

import orjson

from gateway.operation import Prepared
from gateway.transports.base import RequestContext

__all__ = ["InflightRequests", "request_key"]

V = TypeVar("V")

_NOT_IN_KEY = frozenset({"request_id"})
"""Fields of ``RequestContext`` that name the request and change nothing it gets."""
_CLIENT_FIELDS = frozenset({"headers", "remote"})
"""Fields only in-process subgraphs see (``Transport.sees_client_headers``)."""
_KEYED_WITH_CLIENT = tuple(
    f.name for f in fields(RequestContext) if f.name not in _NOT_IN_KEY
)
_KEYED = tuple(name for name in _KEYED_WITH_CLIENT if name not in _CLIENT_FIELDS)


def _frozen(value: Any) -> Hashable:
    """A hashable, order-insensitive image of a context field's value."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, Mapping):
        if not value:
            return ()
        if hasattr(value, "getall"):  # a multidict: repeated names and order count
            return tuple((str(k).lower(), _frozen(v)) for k, v in value.items())
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_frozen(v) for v in value)
    if isinstance(value, Hashable):
        return value
    return repr(value)


def request_key(
    prepared: Prepared, context: RequestContext, *, sees_client_headers: bool
) -> Hashable | None:
    """What makes two client requests interchangeable; ``None`` when the request
    must never share (it is not a query).

    Every field of the context is part of the key except the request's id, so a
    field added to ``RequestContext`` (an auth context, say) separates requests by
    default. The client's own headers and address count only when some subgraph
    sees them (in-process subgraphs); otherwise the per-subgraph forwarded headers
    already say everything a subgraph is sent.
    """
    if prepared.operation.kind != "query":
        return None
    request = prepared.request
    names = _KEYED_WITH_CLIENT if sees_client_headers else _KEYED
    seen = tuple((name, _frozen(getattr(context, name))) for name in names)
    extras = orjson.dumps(
        [request.variables, request.extensions],
        option=orjson.OPT_SORT_KEYS,
        default=repr,
    )
    # What the client may not see (authorization), decided from its identity.
    restriction = _frozen(getattr(prepared, "restriction", None))
    return (request.query, request.operation_name, extras, seen, restriction)


class InflightRequests(Generic[V]):
    """Runs one computation per key at a time; identical callers share its value."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[V]] = {}
        self.joined = 0
        """How many callers shared a computation another one started."""

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._running[key] = future
            future.add_done_callback(lambda _: self._forget(key, future))
        else:
            self.joined += 1
        return await asyncio.shield(future)

    def _forget(self, key: Hashable, future: asyncio.Future[V]) -> None:
        if self._running.get(key) is future:
            del self._running[key]
        if not future.cancelled():
            future.exception()  # retrieved: every waiter may have gone away
