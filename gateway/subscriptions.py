"""Subscriptions through the gateway: shared upstream streams, per-event entity fetches.

``Subscriptions.subscribe`` runs a subscription plan (``plan.Subscription``): it opens
the primary fetch's upstream (``transport.subscribe``), and for every upstream result
runs the rest of the plan (``Executor.execute_event``: entity fields owned by other
subgraphs) and yields the shaped payload as a ``StreamEvent``.

Sharing: identical upstream subscriptions (same subgraph, operation text, operation
name, variables, extensions and propagated headers; no ``Last-Event-ID``) share one
upstream stream, a ``_Hub``. Each subscriber has a bounded queue: the upstream never
waits for a subscriber, and one that falls ``queue_size`` events behind is ended with a
``SUBSCRIBER_TOO_SLOW`` error. The upstream is closed when its last subscriber leaves;
a subscriber that joins a running hub of a resumable source (its events have ids)
first replays, on an upstream of its own, what it missed up to the hub's live point,
then shares the live events, with no gap and no duplicate (``_CatchUp``); one of a
source without ids gets the events from then on. Subscribers with the same plan and
variables share each event's payload (computed once).

Event ids: an upstream result's ``extensions.eventId`` (``gateway.transports``) is the
client's SSE id. A client resuming with ``Last-Event-ID`` gets its own upstream, opened
with that header (``RequestContext.headers``), and the source replays what came after
it. A source without ids cannot replay: the gateway numbers its events, and a resumed
stream's first payload says ``extensions.stream.resumed: false``.
The last event of a stream with ids (an error without an id, as a subgraph server
sends when its source fails or shuts down) keeps the last id sent: an id never goes
backwards.

Errors: an upstream that fails (``SubgraphError``) ends the stream with one last event
carrying the errors; the client then gets ``complete``. Never a silent end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Hashable,
    Mapping,
)
from typing import TYPE_CHECKING, Any, cast

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import GatewayError, SubgraphError, SubgraphStreamError
from gateway.events import EVENT_ID, StreamEvent
from gateway.headers import HOP_BY_HOP
from gateway.masking import ErrorPolicy
from gateway.planner.nodes import QueryPlan, Subscription
from gateway.transports.base import (
    RequestContext,
    SubgraphRequest,
    SubgraphResult,
    Transport,
)

if TYPE_CHECKING:
    from gateway.execution import Executor

__all__ = ["DEFAULT_QUEUE_SIZE", "Subscriptions"]

logger = logging.getLogger("gateway.subscriptions")

DEFAULT_QUEUE_SIZE = 1024
"""Events a subscriber may fall behind its upstream before it is ended."""

CLOSE_TIMEOUT = 1.0
"""How long the last subscriber to leave waits for its upstream to close."""

LAST_EVENT_ID = "Last-Event-ID"

_IGNORED_HEADERS = HOP_BY_HOP | {
    "cache-control",
    "pragma",
    "user-agent",
    "origin",
    "referer",
    "accept-language",
    "dnt",
    "priority",
    "last-event-id",
}
"""Client headers that cannot change what an in-process subgraph streams."""

PlanSource = QueryPlan | Callable[[], QueryPlan]


def _canonical(value: Any) -> str:
    # As str: orjson's bytes keep a 4 KiB buffer, held as long as the key is.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr).decode()


def _headers_key(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name.lower(), value) for name, value in headers.items()))


def _context_key(context: RequestContext) -> tuple[tuple[str, str], ...]:
    """The client headers a subgraph that sees all of them may depend on, and the
    verified claims (a WebSocket token comes in no header)."""
    key = tuple(
        sorted(
            (name.lower(), value)
            for name, value in context.headers.items()
            if name.lower() not in _IGNORED_HEADERS
            and not name.lower().startswith("sec-")
        )
    )
    if context.claims is not None:
        key += (("", _canonical(context.claims)),)
    return key


def _upstream_key(transport: Transport, request: SubgraphRequest) -> Hashable:
    """Identical upstream subscriptions have equal keys: keyed on the headers a
    remote subgraph is sent, or, for an in-process one (its resolvers see every
    header), on all the client headers that can matter."""
    headers = (
        _context_key(request.context)
        if transport.sees_client_headers
        else _headers_key(request.context.headers_to(transport.name))
    )
    return (
        transport.name,
        request.query,
        request.operation_name,
        _canonical(dict(request.variables)),
        _canonical(request.extensions) if request.extensions else "",
        headers,
    )


def _used(variables: Mapping[str, Any], usages: tuple[str, ...]) -> Mapping[str, Any]:
    """The variables an upstream operation uses: ``variables`` itself when it uses
    them all (no copy to hold for the life of the stream)."""
    if all(name in usages for name in variables):
        return variables
    return {name: variables[name] for name in usages if name in variables}


def _share_key(
    plan: QueryPlan, variables: Mapping[str, Any], context: RequestContext
) -> Hashable:
    """Subscribers of a hub whose keys are equal get the same payloads."""
    fetches_more = cast(Subscription, plan.node).rest is not None
    return (
        plan,
        _canonical(dict(variables)),
        _context_key(context) if fetches_more else (),
    )


_TASK_NAMES: dict[str, str] = {}


def _task_name(service: str) -> str:
    """One name string per subgraph, shared by all its upstream tasks."""
    name = _TASK_NAMES.get(service)
    if name is None:
        if len(_TASK_NAMES) > 1024:
            _TASK_NAMES.clear()
        name = _TASK_NAMES[service] = f"subscription upstream {service}"
    return name


def _with_last_event_id(
    context: RequestContext, last_event_id: str | None
) -> RequestContext:
    """``context`` with ``Last-Event-ID`` set to ``last_event_id`` (or removed)."""
    if last_event_id is None and LAST_EVENT_ID not in context.headers:
        return context
    headers = CIMultiDict(context.headers)
    headers.popall(LAST_EVENT_ID, None)
    if last_event_id is not None:
        headers[LAST_EVENT_ID] = last_event_id
    return dataclasses.replace(context, headers=CIMultiDictProxy(headers))


_MASK = ErrorPolicy()
"""Masks a bug of a transport's stream (logged; the client gets its request id)."""


def _errors_of(exc: SubgraphError, policy: ErrorPolicy) -> list[dict[str, Any]]:
    if isinstance(exc, SubgraphStreamError):
        # The subgraph's own errors: filtered as any subgraph error.
        return [policy.subgraph_error(error, exc.service) for error in exc.errors] or [
            exc.to_graphql()
        ]
    return [exc.to_graphql()]


def _not_resumed(payload: dict[str, Any], reason: str) -> dict[str, Any]:
    extensions = dict(payload.get("extensions") or {})
    extensions["stream"] = {"resumed": False, "reason": reason}
    return {**payload, "extensions": extensions}


class _Item:
    """One upstream result, as every subscriber of a hub receives it."""

    __slots__ = ("id", "payloads", "result")

    def __init__(self, result: SubgraphResult) -> None:
        self.result = result
        extensions = result.get("extensions")
        event_id = extensions.get(EVENT_ID) if extensions else None
        self.id: str | None = str(event_id) if event_id is not None else None
        self.payloads: dict[
            Hashable, dict[str, Any] | asyncio.Task[dict[str, Any]]
        ] = {}
        """Shaped payloads by (plan, variables[, headers]): computed once."""


class _End:
    """How a stream ended: ``error`` None means the upstream completed."""

    __slots__ = ("error",)

    def __init__(self, error: GatewayError | None = None) -> None:
        self.error = error


_COMPLETED = _End()


_NO_ITEMS: deque[_Item] = deque(maxlen=0)


class _Subscriber:
    """One client of a hub: a bounded queue of items and a wake-up future.

    Small on purpose (thousands of idle ones): no deque until the first event,
    the future only while its client waits, and the waiting is done by the
    client's own generator (``Subscriptions._events``), not by a coroutine here.
    """

    __slots__ = ("end", "hub", "index", "limit", "queue", "waiter")

    def __init__(self, limit: int, hub: _Hub) -> None:
        self.limit = limit
        self.hub = hub
        self.index = -1
        """Where it is in ``hub.subscribers``; -1 once it left."""
        self.queue: deque[_Item] = _NO_ITEMS
        """Made on the first event: an idle subscriber holds no deque block."""
        self.waiter: asyncio.Future[None] | None = None
        self.end: _End | None = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def push(self, item: _Item) -> int:
        """Queue ``item``; the queue's length after, or -1 for an ended subscriber."""
        if self.end is not None:
            return -1
        if len(self.queue) >= self.limit:
            self.queue.clear()
            self.end = _End(
                GatewayError(
                    f"this subscription fell more than {self.limit} events behind "
                    "its source and was ended; subscribe again",
                    code="SUBSCRIBER_TOO_SLOW",
                )
            )
        else:
            if self.queue is _NO_ITEMS:
                self.queue = deque()
            self.queue.append(item)
        self._wake()
        return -1 if self.end is not None else len(self.queue)

    def finish(self, end: _End) -> None:
        if self.end is None:
            self.end = end
        self._wake()

    def skip_replayed(self, replayed: set[str]) -> bool:
        """Drop the queued items up to the last one whose id is in ``replayed``
        (the client had them from its replay); False if none is."""
        last = -1
        for index, item in enumerate(self.queue):
            if item.id is not None and item.id in replayed:
                last = index
        for _ in range(last + 1):
            self.queue.popleft()
        return last >= 0

    def take(self) -> _Item | _End | None:
        """The next item, how the stream ended, or None: wait for ``waiter``."""
        if self.queue:
            item = self.queue.popleft()
            hub = self.hub
            if hub.waiter is not None and len(self.queue) <= self.limit // 4:
                hub.open_valve()
            return item
        if self.end is not None:
            return self.end
        self.waiter = asyncio.get_running_loop().create_future()
        return None


class _CatchUp:
    """A subscriber that joined a running hub of a resumable source, before it
    shares the live events: it reads an upstream of its own (the source replays
    what it has stored, as for any new stream) until that reaches the live point,
    the hub's last event id when it joined or any event the hub has queued for it
    since; the queued events it already had are then dropped. No gap, no duplicate.
    """

    __slots__ = ("replayed", "results", "until")

    def __init__(self, results: AsyncIterator[SubgraphResult], until: str) -> None:
        self.results = results
        self.until = until
        self.replayed: set[str] = set()


def _only_errors(payload: Mapping[str, Any]) -> bool:
    return payload.get("data") is None and bool(payload.get("errors"))


class _Hub:
    """One upstream stream and its subscribers."""

    __slots__ = (
        "hubs",
        "key",
        "last_id",
        "request",
        "subscribers",
        "task",
        "transport",
        "waiter",
    )

    def __init__(
        self,
        transport: Transport,
        request: SubgraphRequest,
        key: Hashable | None,
        hubs: dict[Hashable, _Hub],
    ) -> None:
        self.transport = transport
        self.request = request
        self.key = key
        """``None`` for a stream that is not shared (a resuming client's)."""
        self.hubs = hubs
        self.last_id: str | None = None
        """The id of the last event sent to the subscribers: one that joins later
        replays up to it on its own (``_CatchUp``), then shares the live events."""
        self.subscribers: list[_Subscriber] = []
        """In no particular order: a list (removal swaps in the last one) is a
        quarter of a set's size, and most hubs have one subscriber."""
        self.task: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[None] | None = None
        """Set while the upstream is held back (even the fastest subscriber is
        behind): the source goes at the pace of the fastest subscriber, never of
        the slowest."""

    @property
    def shared(self) -> bool:
        return self.key is not None

    def open_valve(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _hold(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def join(self, limit: int) -> _Subscriber:
        subscriber = _Subscriber(limit, self)
        subscriber.index = len(self.subscribers)
        self.subscribers.append(subscriber)
        self.open_valve()
        if self.task is None:
            self.task = asyncio.create_task(
                self._pump(), name=_task_name(self.transport.name)
            )
        return subscriber

    async def leave(self, subscriber: _Subscriber) -> None:
        self._remove(subscriber)
        if self.subscribers:
            self.open_valve()  # it may have been the fastest
            return
        self._unregister()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            # asyncio.wait does not cancel ``task`` if this client is cancelled
            # again meanwhile: the upstream still closes.
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
            if not task.done():
                logger.warning(
                    "upstream subscription to %s did not close within %s s",
                    self.transport.name,
                    CLOSE_TIMEOUT,
                )

    def abandon(self, subscriber: _Subscriber) -> None:
        """``leave`` without waiting for the upstream to close (a finalizer's)."""
        self._remove(subscriber)
        if self.subscribers:
            return
        self._unregister()
        task = self.task
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed already
                task.cancel()

    def _remove(self, subscriber: _Subscriber) -> None:
        index = subscriber.index
        if index < 0:
            return
        subscriber.index = -1
        last = self.subscribers.pop()
        if last is not subscriber:
            self.subscribers[index] = last
            last.index = index

    def _unregister(self) -> None:
        if self.key is not None and self.hubs.get(self.key) is self:
            del self.hubs[self.key]

    async def _pump(self) -> None:
        end = _COMPLETED
        limit = max(
            (subscriber.limit for subscriber in self.subscribers),
            default=DEFAULT_QUEUE_SIZE,
        )
        pause_at = max(1, limit // 2)
        results: AsyncIterator[SubgraphResult] | None = None
        try:
            results = self.transport.subscribe(self.request)
            async for result in results:
                item = _Item(result)
                if item.id is not None:
                    self.last_id = item.id
                fastest = -1
                for subscriber in self.subscribers:
                    queued = subscriber.push(item)
                    if queued >= 0 and (fastest < 0 or queued < fastest):
                        fastest = queued
                if fastest >= pause_at:
                    # Even the fastest subscriber is behind: wait for it (a source
                    # with events ready, an in-process burst, never suspends).
                    await self._hold()
        except SubgraphError as exc:
            logger.info("upstream subscription to %s failed: %s", exc.service, exc)
            end = _End(exc)
        except Exception as exc:
            masked = _MASK.internal_error(
                exc,
                request_id=self.request.context.request_id,
                what=f"the subscription to subgraph {self.transport.name!r}",
            )
            error = SubgraphError(
                masked.message, service=self.transport.name, code=masked.code
            )
            error.request_id = masked.request_id
            end = _End(error)
        finally:
            # A hub that ended takes no new subscribers: they open a new upstream.
            self._unregister()
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                await aclose()
        for subscriber in self.subscribers:
            subscriber.finish(end)


class Subscriptions:
    """Runs subscription plans; holds the shared upstream streams."""

    def __init__(
        self, executor: Executor, *, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.executor = executor
        self.queue_size = queue_size
        self._hubs: dict[Hashable, _Hub] = {}

    @property
    def upstreams(self) -> int:
        """How many shared upstream streams are open."""
        return len(self._hubs)

    def subscribe(
        self,
        plan: PlanSource,
        variables: Mapping[str, Any],
        context: RequestContext | None = None,
        *,
        last_event_id: str | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The client's events: one per upstream result, then one with errors if
        the upstream failed. ``plan`` may be a callable (planning errors then
        become the stream's one event). Closing the iterator leaves the upstream
        (closing it if this was its last subscriber)."""
        return _Events(
            self, plan, variables, context or RequestContext(), last_event_id
        )

    def _hub(
        self,
        plan: QueryPlan,
        variables: Mapping[str, Any],
        context: RequestContext,
        last_event_id: str | None,
    ) -> tuple[_Hub, SubgraphRequest]:
        """The hub to join, and this client's own upstream request (for a replay)."""
        node = plan.node
        assert isinstance(node, Subscription)
        fetch = node.primary
        transport = self.executor.transports.get(fetch.subgraph)
        if transport is None:
            raise SubgraphError(
                f"no transport for subgraph {fetch.subgraph!r}",
                service=fetch.subgraph,
                code="SUBGRAPH_UNREACHABLE",
            )
        request = SubgraphRequest(
            query=fetch.operation,
            variables=_used(variables, fetch.variable_usages),
            operation_name=fetch.operation_name,
            document=fetch.document,
            context=_with_last_event_id(context, last_event_id),
        )
        if last_event_id is not None:
            return _Hub(transport, request, None, self._hubs), request
        key = _upstream_key(transport, request)
        hub = self._hubs.get(key)
        if hub is None:
            hub = self._hubs[key] = _Hub(transport, request, key, self._hubs)
        return hub, request

    async def _payload(
        self,
        plan: QueryPlan,
        item: _Item,
        variables: Mapping[str, Any],
        context: RequestContext,
        share: Hashable | None,
    ) -> dict[str, Any]:
        """The shaped payload of one event, computed once per ``share`` key."""
        if share is None:
            return await self.executor.execute_event(
                plan, item.result, variables, context
            )
        known = item.payloads.get(share)
        if isinstance(known, dict):
            return known
        if known is None:
            node = plan.node
            if isinstance(node, Subscription) and node.rest is None:
                # No fetch to wait for: shaping runs to the end without yielding.
                payload = await self.executor.execute_event(
                    plan, item.result, variables, context
                )
                item.payloads[share] = payload
                return payload
            known = asyncio.ensure_future(
                self.executor.execute_event(plan, item.result, variables, context)
            )
            item.payloads[share] = known
        # Shielded: a subscriber that leaves must not cancel the others' payload.
        return await asyncio.shield(known)


class _Events(AsyncGenerator[StreamEvent, None]):
    """One client's events (``Subscriptions.subscribe``).

    An async generator written as a class: a real one is registered with the event
    loop (a weak reference in its set of live generators) and keeps a whole frame,
    and thousands of idle streams each hold one. Behaves as the generator would:
    an exception (a cancelled ``anext`` too) or the end leaves the hub before it
    reaches the caller, and ``aclose()`` leaves it at any time.
    """

    __slots__ = (
        "_catch_up",
        "_context",
        "_counter",
        "_hub",
        "_last_event_id",
        "_numbered",
        "_plan",
        "_plan_source",
        "_seen",
        "_share",
        "_stage",
        "_subscriber",
        "_subscriptions",
        "_variables",
    )

    _STARTING, _STREAMING, _ENDING, _CLOSED = range(4)

    def __init__(
        self,
        subscriptions: Subscriptions,
        plan_source: PlanSource,
        variables: Mapping[str, Any],
        context: RequestContext,
        last_event_id: str | None,
    ) -> None:
        self._subscriptions = subscriptions
        self._plan_source: PlanSource | None = plan_source
        self._variables = variables
        self._context = context
        self._last_event_id = last_event_id
        self._plan: QueryPlan | None = None
        self._hub: _Hub | None = None
        self._subscriber: _Subscriber | None = None
        self._share: Hashable | None = None
        """Made on the first event (an idle subscriber holds none)."""
        self._seen = last_event_id
        """The id of the last event sent: resuming from it is right."""
        self._counter = 0
        self._numbered = False
        """True once the gateway numbered an event (the source gives no ids)."""
        self._catch_up: _CatchUp | None = None
        self._stage = self._STARTING

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> StreamEvent:
        # One coroutine, the whole step: its frame is what an idle client holds.
        if self._stage >= self._ENDING:
            await self.aclose()
            raise StopAsyncIteration
        try:
            if self._stage == self._STARTING:
                first = await self._start()
                if first is not None:
                    return first
            subscriber, hub, plan = self._subscriber, self._hub, self._plan
            assert subscriber is not None and hub is not None and plan is not None
            item: _Item | _End | None = None
            share: Hashable | None = None
            if self._catch_up is not None:
                item = await self._replay_next(subscriber)
            if item is None:
                item = subscriber.take()
                while item is None:
                    try:
                        await cast(asyncio.Future[None], subscriber.waiter)
                    finally:
                        subscriber.waiter = None
                    item = subscriber.take()
                if self._share is None and hub.shared:
                    self._share = _share_key(plan, self._variables, self._context)
                share = self._share
            if isinstance(item, _End):
                self._stage = self._ENDING
                if item.error is None:
                    raise StopAsyncIteration
                errors = (
                    _errors_of(item.error, self._subscriptions.executor.errors)
                    if isinstance(item.error, SubgraphError)
                    else [item.error.to_graphql()]
                )
                return StreamEvent(self._seen, {"errors": errors})
            payload = await self._subscriptions._payload(
                plan, item, self._variables, self._context, share
            )
        except BaseException:
            # As a generator's ``finally``: leave before the caller sees it.
            await self.aclose()
            raise
        self._counter += 1
        if item.id is not None:
            event_id = item.id
        elif self._seen is not None and not self._numbered and _only_errors(payload):
            # The last event of a source with ids (its errors, a shutdown): the
            # client's id stays where it was, so resuming from it stays right.
            event_id = self._seen
        else:
            if self._counter == 1 and self._last_event_id is not None:
                payload = _not_resumed(
                    payload,
                    "the source cannot replay its events; "
                    "this stream started again from now",
                )
            self._numbered = True
            event_id = str(self._counter)
        self._seen = event_id
        return StreamEvent(event_id, payload)

    async def _replay_next(self, subscriber: _Subscriber) -> _Item | _End | None:
        """The next event of this client's replay; None once it reached the live
        point (the hub's events follow); an ``_End`` if the replay failed."""
        catch_up = self._catch_up
        assert catch_up is not None
        if subscriber.skip_replayed(catch_up.replayed):
            await self._end_catch_up()
            return None
        try:
            result = await anext(catch_up.results)
        except StopAsyncIteration:
            await self._end_catch_up()
            return None
        except GatewayError as exc:
            await self._end_catch_up()
            return _End(exc)
        item = _Item(result)
        if item.id == catch_up.until or (
            item.id is not None and subscriber.skip_replayed({item.id})
        ):
            await self._end_catch_up()
        elif item.id is not None:
            catch_up.replayed.add(item.id)
        return item

    async def _end_catch_up(self) -> None:
        catch_up, self._catch_up = self._catch_up, None
        if catch_up is None:
            return
        aclose = getattr(catch_up.results, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                logger.exception("closing a replay upstream failed")

    async def _start(self) -> StreamEvent | None:
        """Open (or join) the upstream; or the one event of a stream that has
        nothing to stream from."""
        subscriptions = self._subscriptions
        source, self._plan_source = self._plan_source, None
        assert source is not None
        self._stage = self._ENDING
        try:
            plan = source() if callable(source) else source
            if not isinstance(plan.node, Subscription):
                # Nothing to stream from (only the gateway's own fields).
                return StreamEvent(
                    None,
                    await subscriptions.executor.execute(
                        plan, self._variables, self._context
                    ),
                )
            hub, request = subscriptions._hub(
                plan, self._variables, self._context, self._last_event_id
            )
        except GatewayError as exc:
            return StreamEvent(self._last_event_id, {"errors": [exc.to_graphql()]})
        self._plan, self._hub = plan, hub
        self._subscriber = hub.join(subscriptions.queue_size)
        if hub.last_id is not None:
            # The hub sent events before this client came: it replays them first.
            self._catch_up = _CatchUp(hub.transport.subscribe(request), hub.last_id)
        self._stage = self._STREAMING
        return None

    async def asend(self, value: None) -> StreamEvent:
        return await self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> StreamEvent:
        await self.aclose()
        if isinstance(typ, BaseException):
            raise typ
        raise typ if val is None else val

    def __del__(self) -> None:
        # Dropped without ``aclose()`` (as a generator's finalizer would): leave at
        # once; an upstream left with no subscriber is cancelled, not awaited.
        self._catch_up = None  # its loop finalizes a generator left open
        subscriber, hub = self._subscriber, self._hub
        if subscriber is not None and hub is not None:
            self._subscriber = self._hub = None
            hub.abandon(subscriber)

    async def aclose(self) -> None:
        """Leave the hub (closing its upstream if this was its last subscriber)."""
        if self._stage == self._CLOSED:
            return
        self._stage = self._CLOSED
        await self._end_catch_up()
        subscriber, self._subscriber = self._subscriber, None
        hub, self._hub = self._hub, None
        if subscriber is not None and hub is not None:
            await hub.leave(subscriber)
