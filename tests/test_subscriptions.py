"""Subscriptions: shared upstreams, fan-out, errors, resume (gateway.subscriptions)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.composition import compose
from gateway.config import Config, load_config
from gateway.engine import Engine
from gateway.errors import SubgraphHTTPError, SubgraphStreamError
from gateway.events import StreamEvent
from gateway.operation import GraphQLRequest
from gateway.startup import build_transports
from gateway.subscriptions import Subscriptions
from gateway.transports.base import RequestContext, SubgraphRequest, SubgraphResult
from gateway.transports.h1 import HTTP1Client
from gateway.transports.inprocess import InProcessTransport
from gateway.transports.remote import RemoteTransport
from gateway.transports.sse import SSETransport
from gateway.transports.ws import WSTransport
from tests.fixtures.shop import PRODUCTS_SDL, products
from tests.fixtures.ticker import TICKER_SDL, Ticker, ticker

MESSAGES = "subscription ($t: String!) { messages(topic: $t) { seq text } }"
WITH_PRODUCT = (
    "subscription ($t: String!) { messages(topic: $t) { seq product { name } } }"
)
_END = object()


class FakeUpstream:
    """A subscription-only transport driven by the test: ``send`` an event, ``fail``
    or ``complete`` every open stream; it records what it was asked to open and
    which streams were closed."""

    def __init__(self, name: str = "ticker") -> None:
        self.name = name
        self.opened: list[SubgraphRequest] = []
        self.open_streams = 0
        self.queues: list[asyncio.Queue[Any]] = []

    sees_client_headers = False

    async def fetch(self, request: SubgraphRequest) -> SubgraphResult:
        raise AssertionError("fetch is not used here")

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.opened.append(request)
        self.queues.append(queue)
        self.open_streams += 1
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.open_streams -= 1
            self.queues.remove(queue)

    def send(self, seq: int, text: str = "", event_id: str | None = None) -> None:
        result: dict[str, Any] = {
            "data": {"messages": {"seq": seq, "text": text or f"m{seq}"}}
        }
        if event_id is not None:
            result["extensions"] = {"eventId": event_id}
        for queue in self.queues:
            queue.put_nowait(result)

    def send_result(self, result: dict[str, Any]) -> None:
        for queue in self.queues:
            queue.put_nowait(result)

    def fail(self, error: Exception) -> None:
        for queue in self.queues:
            queue.put_nowait(error)

    def complete(self) -> None:
        for queue in self.queues:
            queue.put_nowait(_END)


SUPERGRAPH = compose([("ticker", TICKER_SDL), ("products", PRODUCTS_SDL)])


def make_engine(upstream: Any) -> Engine:
    return Engine(
        SUPERGRAPH,
        {
            "ticker": upstream,
            "products": InProcessTransport("products", products({})),
        },
    )


def open_stream(
    subscriptions: Subscriptions,
    engine: Engine,
    query: str = MESSAGES,
    variables: dict[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    last_event_id: str | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    prepared = engine.prepare(GraphQLRequest(query, None, variables or {"t": "a"}))
    incoming = CIMultiDictProxy(CIMultiDict(headers or {}))
    # What the edge decides: the fake upstream is sent its Authorization header.
    forwarded = {h: incoming[h] for h in ("Authorization",) if h in incoming}
    context = RequestContext(headers=incoming, forward={"ticker": forwarded})
    return subscriptions.subscribe(
        lambda: engine.plan_for(prepared),
        prepared.variables,
        context,
        last_event_id=last_event_id,
    )


async def started(stream: AsyncIterator[StreamEvent]) -> asyncio.Task[StreamEvent]:
    """Ask for the next event and let the stream open its upstream."""
    task = asyncio.ensure_future(anext(stream))
    for _ in range(5):
        await asyncio.sleep(0)
    return task


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel a waiting ``anext``: the stream's generator runs its cleanup."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def message(seq: int) -> dict[str, Any]:
    return {"data": {"messages": {"seq": seq, "text": f"m{seq}"}}}


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def engine(upstream: FakeUpstream) -> Engine:
    return make_engine(upstream)


@pytest.fixture
def subscriptions(engine: Engine) -> Subscriptions:
    return Subscriptions(engine.executor, queue_size=4)


# -- sharing ---------------------------------------------------------------------------


async def test_identical_subscriptions_share_one_upstream(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    first, second = (
        open_stream(subscriptions, engine),
        open_stream(subscriptions, engine),
    )
    a, b = await started(first), await started(second)
    assert len(upstream.opened) == 1
    upstream.send(1, event_id="e1")
    assert await a == StreamEvent("e1", message(1))
    assert await b == StreamEvent("e1", message(1))
    await first.aclose()
    await second.aclose()


async def test_different_variables_or_forwarded_headers_open_separate_upstreams(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    streams = [
        open_stream(subscriptions, engine, variables={"t": "a"}),
        open_stream(subscriptions, engine, variables={"t": "b"}),
        open_stream(
            subscriptions, engine, headers={"Authorization": "Bearer x", "X-Other": "1"}
        ),
        # Same forwarded header, another header the subgraph is not sent: shared.
        open_stream(
            subscriptions, engine, headers={"Authorization": "Bearer x", "X-Other": "2"}
        ),
    ]
    tasks = [await started(stream) for stream in streams]
    assert len(upstream.opened) == 3
    assert subscriptions.upstreams == 3
    for task in tasks:
        await cancel(task)
    assert upstream.open_streams == 0
    assert subscriptions.upstreams == 0


async def test_a_late_joiner_of_a_source_without_ids_gets_the_events_from_then_on(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    early = open_stream(subscriptions, engine)
    first = await started(early)
    upstream.send(1)
    assert (await first).id == "1"
    late = open_stream(subscriptions, engine)
    pending = await started(late)
    upstream.send(2)
    assert (await pending).payload == message(2)
    assert await anext(early) == StreamEvent("2", message(2))
    assert len(upstream.opened) == 1, "nothing to replay: no upstream of its own"
    await early.aclose()
    await late.aclose()


async def test_a_late_joiner_of_a_live_only_source_with_ids_gets_no_duplicate(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    early = open_stream(subscriptions, engine)
    first = await started(early)
    upstream.send(1, event_id="1")
    assert (await first).id == "1"
    late = open_stream(subscriptions, engine)
    pending = await started(late)
    upstream.send(2, event_id="2")
    assert await pending == StreamEvent("2", message(2))
    upstream.send(3, event_id="3")
    assert await anext(late) == StreamEvent("3", message(3))
    assert [await anext(early), await anext(early)] == [
        StreamEvent("2", message(2)),
        StreamEvent("3", message(3)),
    ]
    assert upstream.open_streams == 1, "its catch-up upstream closed at the live point"
    await early.aclose()
    await late.aclose()
    assert upstream.open_streams == 0


async def test_the_upstream_closes_when_the_last_subscriber_leaves(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    first, second = (
        open_stream(subscriptions, engine),
        open_stream(subscriptions, engine),
    )
    a, b = await started(first), await started(second)
    await cancel(a)
    await settle()
    assert upstream.open_streams == 1, "one subscriber left: the upstream stays open"
    await cancel(b)
    assert upstream.open_streams == 0
    assert subscriptions.upstreams == 0


async def test_a_subscriber_cancelled_while_waiting_closes_the_upstream(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    task = await started(stream)
    assert upstream.open_streams == 1
    await cancel(task)
    assert upstream.open_streams == 0
    assert subscriptions.upstreams == 0


async def test_repeated_subscribe_and_disconnect_leaves_no_task_or_upstream(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    await settle()
    tasks_before = len(asyncio.all_tasks())
    for i in range(200):
        stream = open_stream(subscriptions, engine, variables={"t": f"t{i % 3}"})
        task = await started(stream)
        if i % 2:
            upstream.send(i)
            await task
            await stream.aclose()
        else:
            await cancel(task)
    await settle()
    assert upstream.open_streams == 0
    assert subscriptions.upstreams == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_slow_subscriber_is_ended_and_does_not_hold_back_the_others(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    fast, slow = open_stream(subscriptions, engine), open_stream(subscriptions, engine)
    first_fast, first_slow = await started(fast), await started(slow)
    upstream.send(1, event_id="1")
    assert (await first_fast).id == "1"
    assert (await first_slow).id == "1"
    received = []
    for seq in range(2, 12):  # queue_size is 4: the slow one falls behind
        upstream.send(seq, event_id=str(seq))
        received.append(await anext(fast))
    assert [event.id for event in received] == [str(seq) for seq in range(2, 12)]
    ended = await anext(slow)
    assert ended.id == "1", "the last id the slow client saw: it can resume from it"
    [error] = ended.payload["errors"]
    assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
    with pytest.raises(StopAsyncIteration):
        await anext(slow)
    upstream.send(12, event_id="12")
    assert (await anext(fast)).id == "12"
    await fast.aclose()
    assert upstream.open_streams == 0


async def test_subscribers_of_one_plan_share_each_events_payload(
    upstream: FakeUpstream,
    engine: Engine,
    subscriptions: Subscriptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    execute_event = engine.executor.execute_event

    async def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return await execute_event(*args, **kwargs)

    monkeypatch.setattr(engine.executor, "execute_event", counting)
    streams = [open_stream(subscriptions, engine) for _ in range(5)]
    tasks = [await started(stream) for stream in streams]
    upstream.send(1)
    assert [(await task).payload for task in tasks] == [message(1)] * 5
    assert calls == 1
    for stream in streams:
        await stream.aclose()


# -- errors ----------------------------------------------------------------------------


async def test_an_upstream_stream_error_is_a_final_event_with_its_errors(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    first = await started(stream)
    upstream.send(1, event_id="7")
    assert (await first).id == "7"
    pending = asyncio.ensure_future(anext(stream))
    upstream.fail(
        SubgraphStreamError(
            "boom",
            service="ticker",
            errors=[{"message": "topic deleted", "extensions": {"code": "GONE"}}],
        )
    )
    last = await pending
    assert last == StreamEvent(
        "7",
        {
            "errors": [
                {
                    "message": "topic deleted",
                    "extensions": {"code": "GONE", "serviceName": "ticker"},
                }
            ]
        },
    )
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert upstream.open_streams == 0


async def test_an_upstream_http_error_keeps_its_status(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    pending = await started(stream)
    upstream.fail(SubgraphHTTPError("HTTP 401", service="ticker", status=401))
    event = await pending
    [error] = event.payload["errors"]
    assert error["extensions"] == {
        "code": "SUBGRAPH_HTTP_ERROR",
        "serviceName": "ticker",
        "http": {"status": 401},
    }
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_upstream_completion_ends_every_subscriber(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    streams = [open_stream(subscriptions, engine) for _ in range(3)]
    tasks = [await started(stream) for stream in streams]
    upstream.complete()
    for task in tasks:
        with pytest.raises(StopAsyncIteration):
            await task
    assert subscriptions.upstreams == 0
    # A new subscriber after the end opens a new upstream.
    again = open_stream(subscriptions, engine)
    pending = await started(again)
    assert len(upstream.opened) == 2
    await cancel(pending)


async def test_a_missing_transport_is_an_error_event(engine: Engine) -> None:
    engine_without = Engine(SUPERGRAPH, {})
    stream = open_stream(Subscriptions(engine_without.executor), engine_without)
    event = await anext(stream)
    assert event.payload["errors"][0]["extensions"]["code"] == "SUBGRAPH_UNREACHABLE"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


# -- resumable sources: ids never go back; every subscriber gets its own replay ---------


class ReplayingUpstream(FakeUpstream):
    """A resumable source as the claude subgraph's ``commandOutput`` is one: every
    event is stored with an id; a stream replays the stored events (after
    ``Last-Event-ID`` when given, else all of them), then the live ones."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict[str, Any]] = []

    def send(self, seq: int, text: str = "", event_id: str | None = None) -> None:
        result = {
            "data": {"messages": {"seq": seq, "text": text or f"m{seq}"}},
            "extensions": {"eventId": event_id or str(seq)},
        }
        self.history.append(result)
        for queue in self.queues:
            queue.put_nowait(result)

    async def subscribe(
        self, request: SubgraphRequest
    ) -> AsyncIterator[SubgraphResult]:
        after = request.context.headers.get("Last-Event-ID")
        stored = list(self.history)
        if after is not None:
            ids = [r["extensions"]["eventId"] for r in stored]
            stored = stored[ids.index(after) + 1 :] if after in ids else []
        live = super().subscribe(request)
        # Listen before replaying: an event stored meanwhile comes live, once.
        pending = asyncio.ensure_future(anext(live))
        await asyncio.sleep(0)
        try:
            for result in stored:
                yield result  # type: ignore[misc]
            seen = {r["extensions"]["eventId"] for r in stored}
            while True:
                try:
                    result = await pending
                except StopAsyncIteration:
                    return
                if result["extensions"]["eventId"] not in seen:
                    yield result
                pending = asyncio.ensure_future(anext(live))
        finally:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
            await live.aclose()


async def test_an_error_after_a_resume_keeps_the_last_event_id(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    # A subgraph server whose source fails sends its errors as a last event without
    # an id: the client's id must stay where it was, never restart at 1.
    stream = open_stream(subscriptions, engine, last_event_id="5")
    pending = await started(stream)
    upstream.send_result({"errors": [{"message": "the subgraph died"}]})
    event = await pending
    assert event.id == "5"
    assert event.payload["errors"][0]["message"] == "the subgraph died"


async def test_an_error_after_events_with_ids_keeps_the_last_one(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    pending = await started(stream)
    upstream.send(6, event_id="6")
    assert (await pending).id == "6"
    upstream.send(7, event_id="7")
    assert (await anext(stream)).id == "7"
    upstream.send_result({"data": None, "errors": [{"message": "shutting down"}]})
    assert (await anext(stream)).id == "7"


async def test_a_source_without_ids_still_numbers_its_error_event(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    pending = await started(stream)
    upstream.send(1)
    assert (await pending).id == "1"
    upstream.send_result({"errors": [{"message": "failed"}]})
    assert (await anext(stream)).id == "2"


async def test_an_identical_subscriber_replays_then_shares_the_live_events() -> None:
    upstream = ReplayingUpstream()
    engine = make_engine(upstream)
    subscriptions = Subscriptions(engine.executor, queue_size=16)
    first = open_stream(subscriptions, engine)
    pending = await started(first)
    for seq in (1, 2, 3):
        upstream.send(seq)
    assert (await pending).id == "1"
    assert [(await anext(first)).id for _ in range(2)] == ["2", "3"]

    second = open_stream(subscriptions, engine)
    replayed = [await anext(second) for _ in range(3)]
    assert replayed == [StreamEvent(str(n), message(n)) for n in (1, 2, 3)]
    upstream.send(4)
    upstream.send(5)
    assert [await anext(second), await anext(second)] == [
        StreamEvent("4", message(4)),
        StreamEvent("5", message(5)),
    ]
    assert [(await anext(first)).id for _ in range(2)] == ["4", "5"]
    assert upstream.open_streams == 1, "after its replay it shares the one upstream"
    await first.aclose()
    await second.aclose()
    assert upstream.open_streams == 0


async def test_live_events_during_a_replay_come_once_and_in_order() -> None:
    upstream = ReplayingUpstream()
    engine = make_engine(upstream)
    subscriptions = Subscriptions(engine.executor, queue_size=16)
    first = open_stream(subscriptions, engine)
    pending = await started(first)
    for seq in (1, 2):
        upstream.send(seq)
    await pending
    await anext(first)
    second = open_stream(subscriptions, engine)
    assert (await anext(second)).id == "1"  # replaying now
    upstream.send(3)  # live while the replay is half done
    upstream.send(4)
    ids = [(await anext(second)).id for _ in range(3)]
    upstream.send(5)
    ids.append((await anext(second)).id)
    assert ids == ["2", "3", "4", "5"]
    await first.aclose()
    await second.aclose()
    assert upstream.open_streams == 0


# -- with the in-process ticker: entities, resume ---------------------------------------


@pytest.fixture
def ticker_engine() -> tuple[Engine, Ticker]:
    local = ticker({})
    assert local.context is not None
    state: Ticker = local.context(RequestContext())["ticker"]
    return make_engine(InProcessTransport("ticker", local)), state


async def test_entity_fields_of_other_subgraphs_are_fetched_for_every_event(
    ticker_engine: tuple[Engine, Ticker],
) -> None:
    engine, state = ticker_engine
    subscriptions = Subscriptions(engine.executor)
    stream = open_stream(subscriptions, engine, WITH_PRODUCT)
    pending = await started(stream)
    state.publish("a", "hello", "p2")
    assert await pending == StreamEvent(
        "1", {"data": {"messages": {"seq": 1, "product": {"name": "Product 2"}}}}
    )
    await stream.aclose()
    assert state.topic("a").listeners == set()


async def test_resuming_replays_exactly_the_events_after_last_event_id(
    ticker_engine: tuple[Engine, Ticker],
) -> None:
    engine, state = ticker_engine
    subscriptions = Subscriptions(engine.executor)
    live = open_stream(subscriptions, engine)
    await started(live)
    for seq in range(1, 6):
        state.publish("a", f"m{seq}")
    resumed = open_stream(subscriptions, engine, last_event_id="3")
    events = [await anext(resumed), await anext(resumed)]
    assert events == [StreamEvent("4", message(4)), StreamEvent("5", message(5))]
    assert len(state.topic("a").listeners) == 2, "a resumed stream is not shared"
    state.publish("a", "m6")
    assert await anext(resumed) == StreamEvent("6", message(6))
    await live.aclose()
    await resumed.aclose()
    assert state.topic("a").listeners == set()


async def test_a_source_without_ids_is_numbered_and_a_resume_says_it_restarted(
    ticker_engine: tuple[Engine, Ticker],
) -> None:
    engine, _ = ticker_engine
    subscriptions = Subscriptions(engine.executor)
    query = "subscription { count(to: 3) }"
    fresh = [event async for event in open_stream(subscriptions, engine, query)]
    assert fresh == [StreamEvent(str(n), {"data": {"count": n}}) for n in (1, 2, 3)]
    resumed = [
        event
        async for event in open_stream(subscriptions, engine, query, last_event_id="2")
    ]
    assert [event.id for event in resumed] == ["1", "2", "3"]
    first = resumed[0].payload
    assert first["data"] == {"count": 1}
    assert first["extensions"]["stream"]["resumed"] is False
    assert first["extensions"]["stream"]["reason"]
    assert all("extensions" not in event.payload for event in resumed[1:])


async def test_resume_reaches_the_subgraph_as_a_last_event_id_header(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(
        subscriptions,
        engine,
        headers={"Last-Event-ID": "stale", "Authorization": "t"},
        last_event_id="41",
    )
    pending = await started(stream)
    [request] = upstream.opened
    assert request.context.headers.getall("Last-Event-ID") == ["41"]
    assert request.context.headers["Authorization"] == "t"
    await cancel(pending)


# -- remote subgraphs: HTTP for fetches, SSE for subscriptions ---------------------------


def remote_config(tmp_path: Path, subscription: str) -> Config:
    sdl = tmp_path / "ticker.graphql"
    sdl.write_text(TICKER_SDL)
    path = tmp_path / "supergraph.yaml"
    path.write_text(
        "version: 1\nsubgraphs:\n  - name: ticker\n"
        "    routing_url: http://127.0.0.1:4100/graphql\n"
        f"    schema:\n      file: {sdl}\n{subscription}"
    )
    return load_config(path)


@pytest.mark.parametrize(
    ("subscription", "url", "method"),
    [
        ("", "http://127.0.0.1:4100/graphql", "GET"),
        (
            "    subscription:\n      url: http://127.0.0.1:4100/graphql/stream\n"
            "      protocol: sse_post\n",
            "http://127.0.0.1:4100/graphql/stream",
            "POST",
        ),
    ],
)
async def test_remote_subgraphs_subscribe_over_sse_as_configured(
    tmp_path: Path, subscription: str, url: str, method: str
) -> None:
    config = remote_config(tmp_path, subscription)
    async with HTTP1Client() as session:
        transports = build_transports(config, {}, session)
    transport = transports["ticker"]
    assert isinstance(transport, RemoteTransport)
    assert isinstance(transport.streams, SSETransport)
    assert (transport.streams.url, transport.streams.method) == (url, method)
    assert transport.http.url == "http://127.0.0.1:4100/graphql"


@pytest.mark.parametrize(
    ("subscription", "url", "offered"),
    [
        (
            "    subscription:\n      protocol: ws\n",
            "http://127.0.0.1:4100/graphql",
            ("graphql-transport-ws", "graphql-ws"),
        ),
        (
            "    subscription:\n      url: ws://127.0.0.1:4100/ws\n"
            "      protocol: ws\n      websocketSubprotocol: graphql-ws\n",
            "ws://127.0.0.1:4100/ws",
            ("graphql-ws",),
        ),
        (
            "    subscription:\n      protocol: ws\n"
            "      websocket_subprotocol: graphql-transport-ws\n",
            "http://127.0.0.1:4100/graphql",
            ("graphql-transport-ws",),
        ),
    ],
)
async def test_remote_subgraphs_subscribe_over_websocket_as_configured(
    tmp_path: Path, subscription: str, url: str, offered: tuple[str, ...]
) -> None:
    config = remote_config(tmp_path, subscription)
    async with HTTP1Client() as session:
        transports = build_transports(config, {}, session)
    transport = transports["ticker"]
    assert isinstance(transport, RemoteTransport)
    assert isinstance(transport.streams, WSTransport)
    assert (transport.streams.url, transport.streams.offered) == (url, offered)


# -- what an idle subscription holds ---------------------------------------------------


async def test_a_stream_dropped_without_aclose_still_leaves_its_upstream(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    stream = open_stream(subscriptions, engine)
    first = await started(stream)
    upstream.send(1)
    assert (await first).id == "1"
    assert subscriptions.upstreams == 1
    del stream, first
    gc.collect()
    await settle()
    assert subscriptions.upstreams == 0
    assert upstream.open_streams == 0


async def test_an_upstream_gets_the_clients_variables_without_a_copy_when_it_uses_all(
    upstream: FakeUpstream, engine: Engine, subscriptions: Subscriptions
) -> None:
    prepared = engine.prepare(GraphQLRequest(MESSAGES, None, {"t": "a"}))
    stream = subscriptions.subscribe(
        lambda: engine.plan_for(prepared), prepared.variables
    )
    pending = await started(stream)
    assert upstream.opened[0].variables is prepared.variables
    await cancel(pending)
    assert upstream.open_streams == 0


@pytest.mark.parametrize("ending", ["aclose", "complete", "fail", "cancel"])
async def test_an_in_process_source_is_closed_however_its_stream_ends(
    ticker_engine: tuple[Engine, Ticker], ending: str
) -> None:
    engine, state = ticker_engine
    subscriptions = Subscriptions(engine.executor)
    stream = open_stream(subscriptions, engine)
    pending = await started(stream)
    assert len(state.topic("a").listeners) == 1
    state.publish("a", "one")
    assert (await pending).payload == {"data": {"messages": {"seq": 1, "text": "one"}}}
    if ending == "aclose":
        await stream.aclose()
    elif ending == "cancel":
        await cancel(await started(stream))
    else:
        state.end("a", "boom" if ending == "fail" else None)
        events = [event async for event in stream]
        if ending == "fail":
            assert [e.payload["errors"] for e in events] == [
                [
                    {
                        "message": "boom",
                        "extensions": {
                            "code": "DOWNSTREAM_SERVICE_ERROR",
                            "serviceName": "ticker",
                        },
                    }
                ]
            ]
        else:
            assert events == []
    await settle()
    assert state.topic("a").listeners == set()
    assert subscriptions.upstreams == 0
