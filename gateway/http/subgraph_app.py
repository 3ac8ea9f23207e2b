"""A ``LocalSubgraph`` served as its own server: GraphQL over HTTP, SSE and WebSocket.

``python -m subgraphs.claude --port 4001`` calls ``gateway.local.standalone.main()``,
which runs this application; the gateway then reaches the subgraph with
``routing_url: http://localhost:4001/graphql`` and streams its subscriptions from
``/graphql/stream`` (the seed's path) or from ``/graphql`` with
``Accept: text/event-stream``, or over a WebSocket at either path (both
``graphql-transport-ws`` and the legacy ``graphql-ws``: ``subscription.protocol: ws``).
Streams are written by ``gateway.http.streaming`` and ``gateway.http.websocket``, the
same code as the gateway's own client streams; over WebSocket each event's id is in
its payload's ``extensions.eventId``.

See https://graphql.github.io/graphql-over-http/draft/ and
https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md#distinct-connections-mode
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from graphql import (
    ExecutionResult,
    execute,
)

from gateway.errors import (
    MethodNotAllowedError,
    NotAcceptableError,
    OperationError,
    RequestError,
    SubgraphStreamError,
)
from gateway.events import EVENT_ID, StreamEvent
from gateway.http import noise
from gateway.http.body import handler_args
from gateway.http.graphql import (
    APPLICATION_JSON,
    EVENT_STREAM,
    error_response,
    json_response,
    negotiate,
    read_graphql_request,
)
from gateway.http.security import SecurityPolicy, install_security
from gateway.http.streaming import StreamLimits, StreamRegistry, stream_events
from gateway.http.websocket import (
    OperationRunner,
    SocketOptions,
    Sockets,
    is_websocket_upgrade,
    serve_websocket,
)
from gateway.local.subgraph import LocalSubgraph
from gateway.masking import new_request_id
from gateway.operation import (
    GraphQLRequest,
    OperationCache,
    Prepared,
    prepare,
    prepare_async,
)
from gateway.transports.base import RequestContext
from gateway.transports.inprocess import result_to_dict, subscribe_local

__all__ = [
    "SUBGRAPH",
    "SubgraphServerState",
    "create_subgraph_app",
    "run_subgraph",
]

logger = logging.getLogger("gateway.http.subgraph_app")


_DOCUMENT_CACHE_SIZE = 512


@dataclass(slots=True)
class SubgraphServerState:
    """What one subgraph server holds, under the ``SUBGRAPH`` app key."""

    local: LocalSubgraph
    heartbeat_interval: float
    max_request_bytes: int
    streams: StreamRegistry
    operations: OperationCache
    """Parsed and validated documents by query text and operation name: a repeated
    query is not parsed or validated again."""
    sockets: Sockets = field(default_factory=Sockets)


SUBGRAPH = web.AppKey("subgraph", SubgraphServerState)


async def _prepare(
    state: SubgraphServerState, request: web.Request, gql: GraphQLRequest
) -> Prepared:
    """The gateway's prepare path against the subgraph's schema, then the HTTP rule
    (no mutation over GET)."""
    prepared = await prepare_async(state.operations, gql)
    if request.method == "GET" and prepared.operation.kind == "mutation":
        raise MethodNotAllowedError(
            "mutations are not allowed over GET; use POST", headers={"Allow": "POST"}
        )
    return prepared


def _raw_variables(prepared: Prepared) -> dict[str, Any]:
    """The variables as the client sent them: graphql-core's ``execute`` and
    ``subscribe`` coerce what they run themselves (coerced values cannot be fed
    back), so ``prepare`` coerces to answer ``BAD_USER_INPUT`` before anything runs."""
    return dict(prepared.request.variables or {})


def _request_context(request: web.Request) -> RequestContext:
    return RequestContext(headers=request.headers, remote=request.remote)


def _context(local: LocalSubgraph, context: RequestContext) -> Any:
    if local.context is None:
        return {"request": context}
    return local.context(context)


async def _execute(
    state: SubgraphServerState, prepared: Prepared, request: RequestContext
) -> dict[str, Any]:
    result = execute(
        state.local.schema,
        prepared.operation.document,
        variable_values=_raw_variables(prepared),
        operation_name=prepared.operation.name,
        context_value=_context(state.local, request),
    )
    if inspect.isawaitable(result):
        result = await cast(Awaitable[ExecutionResult], result)
    # Resolver bugs are logged with a request id and masked (gateway.masking).
    return dict(
        result_to_dict(cast(ExecutionResult, result), request_id=new_request_id())
    )


class _Subscription:
    """One subscription of one stream; the handler that opened it closes it.

    ``close()`` runs in the handler's ``finally`` whatever the stream writer did:
    the subscription's source (a Claude command, a file watcher) must end when its
    client goes away, even if the task waiting for its next event is left behind.
    """

    __slots__ = ("_closed", "_iterator", "_prepared", "_request", "_state")

    def __init__(
        self, state: SubgraphServerState, prepared: Prepared, request: RequestContext
    ) -> None:
        self._state = state
        self._prepared = prepared
        self._request = request
        self._iterator: AsyncIterator[Any] | None = None
        self._closed = False

    async def events(self) -> AsyncIterator[StreamEvent]:
        """One event per result; a ``SourceEvent``'s id becomes the SSE ``id:``
        (a client resumes from it with ``Last-Event-ID``, which the source reads
        from the request headers)."""
        operation = self._prepared.operation
        results = subscribe_local(
            self._state.local,
            operation.document,
            variables=_raw_variables(self._prepared),
            operation_name=operation.name,
            context=_context(self._state.local, self._request),
            service="subgraph",
        )
        self._iterator = results
        if self._closed:
            await self.close()
            return
        try:
            async for result in results:
                extensions = result.get("extensions")
                event_id = extensions.pop(EVENT_ID, None) if extensions else None
                if extensions == {}:
                    del result["extensions"]
                yield StreamEvent(event_id, dict(result))
        except SubgraphStreamError as exc:
            # The source failed: its errors are the last event, then complete.
            yield StreamEvent(None, {"errors": exc.graphql_errors()})
        finally:
            await self.close()

    async def close(self) -> None:
        self._closed = True
        iterator, self._iterator = self._iterator, None
        aclose = getattr(iterator, "aclose", None)
        if aclose is None:
            return
        try:
            await aclose()
        except RuntimeError as exc:  # an async generator still running elsewhere
            logger.debug("closing a running subscription: %s", exc)


async def _stream(
    state: SubgraphServerState,
    request: web.Request,
    events: Callable[[], AsyncIterator[StreamEvent]],
) -> web.StreamResponse:
    return await stream_events(
        request,
        state.streams,
        events,
        heartbeat_interval=state.heartbeat_interval,
        # Only a source's own ids: the gateway must see which sources can resume.
        number_events=False,
    )


def _one_event(payload: dict[str, Any]) -> Callable[[], AsyncIterator[StreamEvent]]:
    async def events() -> AsyncIterator[StreamEvent]:
        yield StreamEvent(None, payload)

    return events


# -- handlers --------------------------------------------------------------------------------


async def graphql_handler(request: web.Request) -> web.StreamResponse:
    """``/graphql`` and ``/graphql/stream``, GET and POST."""
    state = request.app[SUBGRAPH]
    if is_websocket_upgrade(request):
        return await _websocket(request, state)
    stream_path = request.path.endswith("/stream")
    try:
        media = (
            EVENT_STREAM
            if stream_path
            else negotiate(request.headers.get("Accept"), multipart=False).single.media
        )
    except NotAcceptableError as exc:
        return error_response(exc, APPLICATION_JSON)
    json_media = APPLICATION_JSON if media == EVENT_STREAM else media
    try:
        gql = await read_graphql_request(request, state.max_request_bytes)
        try:
            prepared = await _prepare(state, request, gql)
        except OperationError as exc:
            if media == EVENT_STREAM and exc.code != "GRAPHQL_PARSE_FAILED":
                # Accepted as a stream: the errors are its one event, then complete.
                return await _stream(
                    state, request, _one_event({"errors": exc.graphql_errors()})
                )
            raise
        if media == EVENT_STREAM:
            if prepared.operation.kind == "subscription":
                subscription = _Subscription(state, prepared, _request_context(request))
                try:
                    return await _stream(state, request, subscription.events)
                finally:
                    await subscription.close()

            async def single() -> AsyncIterator[StreamEvent]:
                yield StreamEvent(
                    None, await _execute(state, prepared, _request_context(request))
                )

            return await _stream(state, request, single)
        if prepared.operation.kind == "subscription":
            raise OperationError(
                "subscriptions need an event stream: send 'Accept: text/event-stream'"
                " or use /graphql/stream",
                code="SUBSCRIPTION_REQUIRES_STREAM",
            )
    except RequestError as exc:
        return error_response(exc, json_media, keep_status=media == EVENT_STREAM)
    return json_response(
        await _execute(state, prepared, _request_context(request)), media
    )


def _operation_runner(state: SubgraphServerState) -> OperationRunner:
    """How a socket runs one operation on the subgraph (mutations too)."""

    def run(
        gql: GraphQLRequest, context: RequestContext
    ) -> Callable[[], AsyncIterator[StreamEvent]]:
        prepared = prepare(state.operations, gql)
        if prepared.operation.kind == "subscription":
            subscription = _Subscription(state, prepared, context)
            return subscription.events

        async def single() -> AsyncIterator[StreamEvent]:
            yield StreamEvent(None, await _execute(state, prepared, context))

        return single

    return run


async def _websocket(
    request: web.Request, state: SubgraphServerState
) -> web.StreamResponse:
    return await serve_websocket(
        request,
        state.sockets,
        _operation_runner(state),
        lambda headers, remote: RequestContext(headers=headers, remote=remote),
        SocketOptions(
            registry=state.streams,
            heartbeat_interval=state.heartbeat_interval,
            max_message_bytes=state.max_request_bytes,
            # The gateway resumes a source from the ids it sees.
            event_ids=True,
        ),
    )


async def health_handler(request: web.Request) -> web.Response:
    state = request.app[SUBGRAPH]
    return json_response(
        {"status": "ok", "streams": len(state.streams)}, APPLICATION_JSON
    )


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    local = app[SUBGRAPH].local
    if local.lifespan is None:
        yield
        return
    async with local.lifespan():
        yield


async def _on_shutdown(app: web.Application) -> None:
    streams = app[SUBGRAPH].streams
    if len(streams):
        logger.info("ending %d open stream(s)", len(streams))
    streams.shutdown()
    await app[SUBGRAPH].sockets.shutdown()


def create_subgraph_app(
    local: LocalSubgraph,
    *,
    heartbeat_interval: float = 30.0,
    max_request_bytes: int = 1024 * 1024,
    max_streams: int = 100_000,
    host: str = "127.0.0.1",
    allowed_hosts: tuple[str, ...] = (),
    keepalive_timeout: float = 15.0,
) -> web.Application:
    """An aiohttp application serving ``local`` at ``/graphql``, ``/graphql/stream``
    and ``/health``, behind the gateway's browser guards (``gateway.http.security``:
    Host check for ``host`` and ``allowed_hosts``, default CORS, CSRF prevention).

    Every stream comes from one client (the gateway) in the usual setup, so the
    per-client stream limit is the total one.
    """
    app = web.Application(
        client_max_size=max_request_bytes,
        handler_args=handler_args(keepalive_timeout),
    )
    install_security(
        app,
        SecurityPolicy.build(
            listen_host=host,
            allowed_hosts=allowed_hosts,
            graphql_paths=("/graphql", "/graphql/stream"),
        ),
    )
    app[SUBGRAPH] = SubgraphServerState(
        local=local,
        heartbeat_interval=heartbeat_interval,
        max_request_bytes=max_request_bytes,
        streams=StreamRegistry(
            StreamLimits(max_streams=max_streams, max_streams_per_client=max_streams)
        ),
        operations=OperationCache(local.schema, _DOCUMENT_CACHE_SIZE),
    )
    app.cleanup_ctx.append(_lifespan)
    app.on_shutdown.append(_on_shutdown)
    for path in ("/graphql", "/graphql/stream"):
        app.router.add_get(path, graphql_handler)
        app.router.add_post(path, graphql_handler)
    app.router.add_get("/health", health_handler)
    return app


def run_subgraph(
    local: LocalSubgraph,
    *,
    host: str = "127.0.0.1",
    port: int,
    heartbeat_interval: float = 30.0,
    shutdown_timeout: float = 5.0,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Serve ``local`` until SIGINT/SIGTERM. A client that disconnects cancels its
    handler at once (``handler_cancellation``), which closes its subscription."""
    app = create_subgraph_app(
        local,
        heartbeat_interval=heartbeat_interval,
        host=host,
        allowed_hosts=allowed_hosts,
    )
    noise.install()
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=shutdown_timeout,
        handler_cancellation=True,
        print=lambda message: logger.info("%s", str(message).strip()),
    )
