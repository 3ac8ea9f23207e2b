"""The gateway's HTTP server: GraphQL over HTTP, health, and the playground.

``create_app(config)`` builds the aiohttp application; the resources with a lifetime
(the shared ``ClientSession``, in-process subgraphs, the engine) live in
``cleanup_ctx``. See https://graphql.github.io/graphql-over-http/draft/
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from graphql import GraphQLSchema
from multidict import CIMultiDictProxy

from gateway import collector, tracing
from gateway.authentication import Identity
from gateway.authorization import AccessRules, Authorizer
from gateway.caching import LRU
from gateway.config import Config
from gateway.engine import Engine
from gateway.errors import (
    BadRequestError,
    GatewayError,
    MethodNotAllowedError,
    NotAcceptableError,
    OperationError,
    PlanningError,
    RequestError,
)
from gateway.events import StreamEvent
from gateway.headers import HeaderPolicy
from gateway.http import noise
from gateway.http.auth import (
    AUTHENTICATION,
    identify,
    install_authentication,
    until_expiry,
)
from gateway.http.body import handler_args
from gateway.http.front import FRONT_LOGGER, FrontSite, Reply
from gateway.http.graphql import (
    APPLICATION_JSON,
    EVENT_STREAM,
    GRAPHQL_RESPONSE_JSON,
    MULTIPART_MIXED,
    Answer,
    error_response,
    error_status,
    graphql_request_from_body,
    negotiate,
    read_graphql_request,
)
from gateway.http.multipart import MultipartEncoder
from gateway.http.observe import (
    METRICS,
    REQUEST_ID_HEADER,
    access_logger,
    install_observability,
    log_access,
    note_operation,
    observed_events,
    outcome,
    reload_health,
    request_id_of,
    subgraph_health,
)
from gateway.http.playground import add_playground_routes, playground_response
from gateway.http.security import SECURITY, SecurityPolicy, install_security
from gateway.http.single_connection import (
    TOKEN_HEADER,
    SingleConnections,
    wants_single_connection,
)
from gateway.http.streaming import (
    StreamLimits,
    StreamRegistry,
    client_key,
    last_event_id,
    run_stream,
    stream_events,
)
from gateway.http.websocket import (
    OperationRunner,
    SocketOptions,
    Sockets,
    is_websocket_upgrade,
    serve_websocket,
)
from gateway.inflight import InflightRequests, request_key
from gateway.logs import note_errors
from gateway.masking import new_request_id
from gateway.metrics import RequestStats, current_stats, track_request
from gateway.operation import GraphQLRequest, Prepared
from gateway.persisted import DocumentStore, PersistedDocuments, load_manifest
from gateway.planner.nodes import plan_to_json
from gateway.reload import (
    LiveStreams,
    Reloader,
    SubgraphPool,
    all_subgraphs,
    config_files,
    plan_services,
    same_subgraph,
    watch_files,
)
from gateway.startup import (
    build_transports,
    compose_config,
    error_policy,
    header_policy,
)
from gateway.supergraph import Supergraph
from gateway.transports.base import RequestContext, Transport
from gateway.transports.h1 import HTTP1Client

__all__ = [
    "STATE",
    "GatewayState",
    "create_app",
    "persisted_documents",
    "run_app",
]

logger = logging.getLogger("gateway.http.app")


@dataclass(slots=True)
class GatewayState:
    """What the running gateway holds; filled in by startup."""

    config: Config
    engine: Engine | None = None
    supergraph: Supergraph | None = None
    session: aiohttp.ClientSession | None = None
    client: HTTP1Client | None = None
    """Subgraph queries and mutations (``gateway.transports.h1``)."""
    shutting_down: bool = False
    streams: StreamRegistry = field(default_factory=StreamRegistry)
    headers: HeaderPolicy = field(default_factory=HeaderPolicy)
    """Which client headers each subgraph is sent (decided here, at the edge)."""
    pool: SubgraphPool = field(default_factory=SubgraphPool)
    """The started in-process subgraphs (kept across reloads)."""
    live: LiveStreams = field(default_factory=LiveStreams)
    """Open subscriptions, which a reload may end."""
    reloader: Reloader | None = None
    flags: dict[str, Engine] = field(default_factory=dict)
    """Feature flag name -> the engine of its graph."""
    sockets: Sockets = field(default_factory=Sockets)
    persisted: PersistedDocuments = field(default_factory=PersistedDocuments)
    """APQ's store and the trusted documents."""
    connections: SingleConnections | None = None
    """graphql-sse's single connection mode streams (set by ``create_app``)."""
    inflight: InflightRequests[tuple[dict[str, Any], bytes | None, int]] | None = None
    """Identical client queries in flight share one encoded answer
    (``gateway.dedup_requests``); ``None`` when off."""


STATE = web.AppKey("state", GatewayState)


def _not_ready() -> RequestError:
    return RequestError(
        "the gateway is not ready",
        code="GATEWAY_NOT_READY",
        status=503,
        headers={"Retry-After": "1"},
    )


def not_ready_response(media: str) -> web.Response:
    return error_response(_not_ready(), media)


def _needs_stream() -> OperationError:
    return OperationError(
        "subscriptions need a stream: send 'Accept: text/event-stream' or "
        "'Accept: multipart/mixed;subscriptionSpec=1.0'",
        code="SUBSCRIPTION_REQUIRES_STREAM",
    )


# -- handlers --------------------------------------------------------------------------


FEATURE_FLAG_HEADER = "X-Feature-Flag"
FEATURE_FLAG_COOKIE = "feature_flag"


def feature_flag(request: web.Request, flags: Mapping[str, object]) -> str | None:
    """The feature flag a request picks (Cosmo: the ``X-Feature-Flag`` header, else
    the ``feature_flag`` cookie); an unknown name runs on the base graph."""
    if not flags:
        return None
    name = request.headers.get(FEATURE_FLAG_HEADER) or request.cookies.get(
        FEATURE_FLAG_COOKIE
    )
    if not name:
        return None
    name = name.strip()
    return name if name in flags else None


def _wants_playground(request: web.Request) -> bool:
    if request.method != "GET" or "query" in request.query:
        return False
    return "text/html" in request.headers.get("Accept", "")


async def graphql_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if is_websocket_upgrade(request):
        return await _websocket(request, state)
    if _wants_playground(request) and state.config.gateway.playground:
        return playground_response(request)
    if wants_single_connection(request):
        return await _single_connection(request, state)
    try:
        negotiated = negotiate(request.headers.get("Accept"))
    except NotAcceptableError as exc:
        return error_response(exc, APPLICATION_JSON)
    single = negotiated.single
    json_media = APPLICATION_JSON if single.streams else single.media
    engine = state.engine
    if engine is None or state.shutting_down:
        return not_ready_response(json_media)
    flag = feature_flag(request, state.flags)
    if flag is not None:
        engine = state.flags[flag]
    try:
        graphql_request = await read_graphql_request(
            request,
            state.config.gateway.max_request_bytes,
            body_timeout=state.config.gateway.limits.body_read_timeout,
        )
        graphql_request = state.persisted.resolve(graphql_request)
        identity = await identify(request)
        try:
            with tracing.span("prepare"):
                prepared = await engine.prepare_async(graphql_request, identity)
        except OperationError as exc:
            if single.media == EVENT_STREAM and exc.code != "GRAPHQL_PARSE_FAILED":
                # Accepted as a stream: the errors are its one event.
                return await _stream_errors(request, state, exc)
            raise
        kind = prepared.operation.kind
        note_operation(kind, prepared.operation.name)
        if request.method == "GET" and kind == "mutation":
            # GET must not change state; subscriptions over GET are how a browser
            # EventSource subscribes.
            raise MethodNotAllowedError(
                "mutations are not allowed over GET; use POST",
                headers={"Allow": "POST"},
            )
        context = request_context(state, request.headers, request.remote, identity)
        answer = negotiated.stream if kind == "subscription" else single
        if answer is None:
            raise _needs_stream()
        if answer.streams:
            return await _stream(
                request, state, engine, prepared, context, answer, identity
            )
    except RequestError as exc:
        # A stream request that fails before its stream starts keeps its 4xx.
        return error_response(exc, json_media, keep_status=single.streams)
    body, status = await single_answer(
        state,
        engine,
        prepared,
        context,
        answer.media,
        with_plan=state.config.gateway.query_plans_exposed and _asks_for_plan(request),
    )
    return web.Response(
        body=body, status=status, content_type=answer.media, charset="utf-8"
    )


async def single_answer(
    state: GatewayState,
    engine: Engine,
    prepared: Prepared,
    context: RequestContext,
    media: str,
    *,
    with_plan: bool = False,
) -> tuple[bytes, int]:
    """The encoded answer to a query or mutation, and its status; identical
    queries in flight share one (``gateway.dedup_requests``). ``with_plan``: the
    answer carries ``extensions.queryPlan`` (and is never shared)."""
    if with_plan:
        result, status = await _execute(engine, prepared, context)
        if status == 200:
            _add_query_plan(result, engine, prepared)
        return orjson.dumps(note_errors(result)), status
    inflight, key = state.inflight, None
    if inflight is not None:
        key = request_key(
            prepared, context, sees_client_headers=engine.sees_client_headers
        )
    if inflight is None or key is None:
        result, body, status = await _encoded(engine, prepared, context)
    else:
        result, body, status = await inflight.run(
            (media, key), partial(_encoded, engine, prepared, context)
        )
    if body is None:
        # Errors carry each request's own id (and feed its access log line): the
        # decoded answer is shared, the encoding is not.
        return orjson.dumps(note_errors(result)), status
    return body, status


def request_context(
    state: GatewayState,
    headers: CIMultiDictProxy[str],
    remote: str | None,
    identity: Identity | None,
) -> RequestContext:
    """What the subgraphs may learn of a client request (``RequestContext``)."""
    claims = identity.claims if identity else None
    return RequestContext(
        headers=headers,
        remote=remote,
        forward=state.headers.for_request(headers, claims),
        request_id=_request_id(),
        claims=claims,
    )


async def _execute(
    engine: Engine, prepared: Prepared, context: RequestContext
) -> tuple[dict[str, Any], int]:
    """The response body and its status."""
    try:
        return await engine.execute(prepared, context), 200
    except Exception as exc:
        # A gateway bug, not the client's fault: logged with its traceback and the
        # request id, answered with the id and without the exception's text.
        error = engine.errors.unexpected(
            exc,
            request_id=context.request_id,
            what=f"executing {prepared.operation.name or 'the operation'}",
        )
        return {"errors": [error]}, 500


async def _encoded(
    engine: Engine, prepared: Prepared, context: RequestContext
) -> tuple[dict[str, Any], bytes | None, int]:
    """What identical requests share: the answer, its encoding when it has no
    errors (an answer with errors is encoded per request, with its request id),
    and its status."""
    result, status = await _execute(engine, prepared, context)
    if result.get("errors"):
        return result, None, status
    return result, orjson.dumps(result), status


def _request_id() -> str:
    """The id the edge gave this request (``X-Request-Id``), else a new one."""
    stats = current_stats()
    if stats is not None and stats.request_id:
        return stats.request_id
    return new_request_id()


_PLAN_HEADERS = ("Apollo-Expose-Query-Plan", "X-WG-Include-Query-Plan")


def _asks_for_plan(request: web.Request) -> bool:
    """Apollo Router's and Cosmo's headers for "send me the query plan"."""
    return any(
        request.headers.get(name, "").strip().lower() == "true"
        for name in _PLAN_HEADERS
    )


def _add_query_plan(result: dict[str, Any], engine: Engine, prepared: Prepared) -> None:
    try:
        plan = engine.plan_for(prepared)  # cached: the plan that just ran
    except PlanningError:
        return  # the errors already say why there is none
    extensions = result.setdefault("extensions", {})
    extensions["queryPlan"] = plan_to_json(plan)


class GraphQLLane:
    """The front's lane (``gateway.http.front``): plain GraphQL POSTs, answered
    without aiohttp's request and response objects.

    It takes a POST to the GraphQL path whose answer is one JSON document and that
    needs none of the edge's other decisions: ``Host`` allowed, no ``Origin`` (so no
    CORS and no CSRF question: a JSON ``Content-Type`` is preflighted anyway), an
    identity body of known length within ``max_request_bytes``, no stream token,
    feature flag, query plan header or tracing. aiohttp answers everything else.
    What it does with a request is what ``graphql_handler`` does, through the same
    functions: the same answers, errors, metrics, access log line and request id.
    """

    _REFUSED = (
        "Origin",
        "Expect",
        "Transfer-Encoding",
        "Content-Encoding",
        TOKEN_HEADER,
    )

    def __init__(self, app: web.Application) -> None:
        self.app = app
        state = app[STATE]
        gateway = state.config.gateway
        self.path = gateway.graphql_path
        self._path = gateway.graphql_path.encode()
        self.hosts = app[SECURITY].hosts
        self.max_bytes = gateway.max_request_bytes
        self.plan_headers = gateway.query_plans_exposed
        self.access_log = gateway.access_log
        self.metrics = app[METRICS]
        self._media: LRU[tuple[str | None, str | None], str] = LRU(256, 256 * 1024)
        """``_media_for`` by (``Host``, ``Accept``): clients send a handful."""

    def takes(
        self, method: bytes, url: bytes, headers: CIMultiDictProxy[str]
    ) -> str | None:
        """The media type to answer in, or ``None``: aiohttp answers."""
        if method != b"POST" or url != self._path:
            return None
        key = (headers.get("Host"), headers.get("Accept"))
        media = self._media.get(key)
        if media is None:
            media = self._media_for(*key)
            self._media.put(key, media, len(key[0] or "") + len(key[1] or "") + 100)
        if not media:
            return None
        for name in self._REFUSED:
            if name in headers:
                return None
        content_type = headers.get("Content-Type", "").partition(";")[0]
        if content_type.strip().lower() not in (
            APPLICATION_JSON,
            GRAPHQL_RESPONSE_JSON,
        ):
            return None
        length = headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > self.max_bytes:
            return None
        if self.app[STATE].flags and (
            FEATURE_FLAG_HEADER in headers or "Cookie" in headers
        ):
            return None
        if self.plan_headers and any(name in headers for name in _PLAN_HEADERS):
            return None
        if tracing.tracing() is not None:
            return None
        return media

    def _media_for(self, host: str | None, accept: str | None) -> str:
        """The media type to answer a request for ``host`` that accepts
        ``accept``; ``""``: not here."""
        if not self.hosts.allows(host):
            return ""  # aiohttp's security check refuses it, and logs why
        try:
            negotiated = negotiate(accept)
        except NotAcceptableError:
            return ""
        if negotiated.stream is not None or negotiated.single.streams:
            return ""  # it may be a subscription, or want a stream
        return negotiated.single.media

    async def answer(
        self,
        ticket: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        remote: str | None,
    ) -> Reply:
        """Answer like ``graphql_handler`` inside the observability middleware."""
        stats = RequestStats(request_id=request_id_of(headers))
        started = time.perf_counter()
        status = 500
        try:
            with track_request(stats):
                reply = await self._answer(ticket, headers, body, remote)
            status = reply.status
            return reply._replace(
                headers=(*reply.headers, (REQUEST_ID_HEADER, stats.request_id or ""))
            )
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request(
                stats.operation_type or "unknown",
                stats.operation_name,
                outcome(status, stats),
                seconds,
            )
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                log_access("POST", self.path, remote, stats, status, seconds)

    async def _answer(
        self,
        media: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        remote: str | None,
    ) -> Reply:
        state = self.app[STATE]
        engine = state.engine
        if engine is None or state.shutting_down:
            return _error_reply(_not_ready(), media)
        try:
            graphql_request = state.persisted.resolve(graphql_request_from_body(body))
            edge = self.app.get(AUTHENTICATION)
            identity = None if edge is None else await edge.identify(headers)
            prepared = await engine.prepare_async(graphql_request, identity)
            kind = prepared.operation.kind
            note_operation(kind, prepared.operation.name)
            if kind == "subscription":
                raise _needs_stream()
            context = request_context(state, headers, remote, identity)
        except RequestError as exc:
            return _error_reply(exc, media)
        except Exception as exc:
            # A gateway bug: logged with the request id, answered without its text.
            error = engine.errors.unexpected(
                exc, request_id=_request_id(), what="preparing the operation"
            )
            return Reply(500, media, orjson.dumps(note_errors({"errors": [error]})))
        answer, status = await single_answer(state, engine, prepared, context, media)
        return Reply(status, media, answer)

    def malformed(self, reason: str) -> Reply:
        """A request that is not HTTP: 400 (aiohttp's servers answer it in plain
        text; the front can say it in JSON)."""
        error = BadRequestError(f"malformed HTTP request: {reason}")
        return Reply(
            400,
            APPLICATION_JSON,
            orjson.dumps({"errors": error.graphql_errors()}),
            close=True,
        )


def _error_reply(exc: RequestError, media: str) -> Reply:
    status = error_status(exc, media)
    return Reply(
        status,
        media,
        orjson.dumps(note_errors({"errors": exc.graphql_errors()})),
        tuple(exc.headers.items()) if exc.headers else (),
        close=status in (408, 413),
    )


async def _stream(
    request: web.Request,
    state: GatewayState,
    engine: Engine,
    prepared: Prepared,
    context: RequestContext,
    answer: Answer,
    identity: Identity | None = None,
) -> web.StreamResponse:
    events = until_expiry(
        request, identity, _events(request, state, engine, prepared, context)
    )
    gateway = state.config.gateway
    protocol = "multipart" if answer.media == MULTIPART_MIXED else "sse"
    events = observed_events(request, events, protocol)
    if answer.media == MULTIPART_MIXED:
        assert answer.multipart_spec is not None
        stream = state.streams.open(client_key(request))
        encoder = MultipartEncoder(request, answer.multipart_spec)
        await run_stream(
            state.streams,
            stream,
            encoder,
            events,
            heartbeat_interval=gateway.multipart_heartbeat_interval,
        )
        return encoder.response
    return await stream_events(
        request,
        state.streams,
        events,
        heartbeat_interval=gateway.heartbeat_interval,
    )


def _events(
    request: web.Request,
    state: GatewayState,
    engine: Engine,
    prepared: Prepared,
    context: RequestContext,
) -> Callable[[], AsyncIterator[StreamEvent]]:
    """The events of a prepared operation: a subscription's, or one result."""
    if prepared.operation.kind == "subscription":

        def subscribe() -> AsyncIterator[StreamEvent]:
            return engine.subscribe(
                prepared, context, last_event_id=last_event_id(request)
            )

        try:
            services = plan_services(engine.plan_for(prepared).node)
        except GatewayError:
            services = frozenset()  # the subscription answers the planning error
        return state.live.track(
            subscribe,
            prepared.operation.document,
            services,
            feature_flag(request, state.flags),
        )

    async def result() -> AsyncIterator[StreamEvent]:
        yield StreamEvent(None, await engine.execute(prepared, context))

    return result


async def _single_connection(
    request: web.Request, state: GatewayState
) -> web.StreamResponse:
    """graphql-sse's single connection mode: PUT, GET (the stream), POST, DELETE."""
    connections = state.connections
    if connections is None:
        raise web.HTTPNotFound()
    if request.method == "PUT":
        return connections.reserve(request)
    if request.method == "DELETE":
        return connections.stop(request)
    if request.method == "GET" and EVENT_STREAM in request.headers.get("Accept", ""):
        return await connections.stream(request)
    engine = state.engine
    if engine is None or state.shutting_down:
        return not_ready_response(APPLICATION_JSON)
    try:
        if request.method != "POST":
            raise MethodNotAllowedError(
                "with a stream token: GET the stream (Accept: text/event-stream), "
                "POST operations, DELETE one, or PUT a new reservation",
                headers={"Allow": "GET, POST, PUT, DELETE"},
            )
        graphql_request = await read_graphql_request(
            request, state.config.gateway.max_request_bytes
        )
        graphql_request = state.persisted.resolve(graphql_request)
        prepared = await engine.prepare_async(graphql_request)
        context = RequestContext(
            headers=request.headers,
            remote=request.remote,
            forward=state.headers.for_request(request.headers),
            request_id=_request_id(),
        )
        return connections.start(
            request,
            dict(graphql_request.extensions or {}),
            _events(request, state, engine, prepared, context),
        )
    except RequestError as exc:
        return error_response(exc, APPLICATION_JSON, keep_status=True)


def _operation_runner(state: GatewayState, upgrade: web.Request) -> OperationRunner:
    """How a socket runs one operation: the same persisted documents, prepare,
    authorization, execute and subscribe as over HTTP (mutations too: a socket is
    not a GET), on the engine serving when the operation starts (a socket outlives
    reloads); a subscription ends when the connection's token expires."""
    jwt = state.config.gateway.authentication.jwt
    scope_claim = jwt.scope_claim if jwt is not None else "scope"

    def run(
        graphql_request: GraphQLRequest, context: RequestContext
    ) -> Callable[[], AsyncIterator[StreamEvent]]:
        engine = state.engine
        if engine is None or state.shutting_down:
            raise RequestError(
                "the gateway is not ready", code="GATEWAY_NOT_READY", status=503
            )
        identity = (
            Identity.from_claims(context.claims, scope_claim)
            if context.claims is not None
            else None
        )
        prepared = engine.prepare(state.persisted.resolve(graphql_request), identity)
        if prepared.operation.kind == "subscription":

            def subscribe() -> AsyncIterator[StreamEvent]:
                return engine.subscribe(prepared, context)

            try:
                services = plan_services(engine.plan_for(prepared).node)
            except GatewayError:
                services = frozenset()  # the subscription answers the planning error
            return until_expiry(
                upgrade,
                identity,
                observed_events(
                    upgrade,
                    state.live.track(subscribe, prepared.operation.document, services),
                    "websocket",
                ),
            )

        async def single() -> AsyncIterator[StreamEvent]:
            yield StreamEvent(None, await engine.execute(prepared, context))

        return single

    return run


async def _websocket(request: web.Request, state: GatewayState) -> web.StreamResponse:
    engine = state.engine
    if engine is None or state.shutting_down:
        return not_ready_response(APPLICATION_JSON)
    policy = state.headers
    edge = request.app.get(AUTHENTICATION)

    async def context(
        headers: CIMultiDictProxy[str], remote: str | None
    ) -> RequestContext:
        # The token comes in the upgrade's headers or the connection_init payload's
        # (merged into ``headers``); a bad one refuses the connection (4403).
        identity = await edge.identify(headers) if edge is not None else None
        claims = identity.claims if identity is not None else None
        return RequestContext(
            headers=headers,
            remote=remote,
            forward=policy.for_request(headers, claims),
            request_id=new_request_id(),
            claims=claims,
        )

    gateway = state.config.gateway
    return await serve_websocket(
        request,
        state.sockets,
        _operation_runner(state, request),
        context,
        SocketOptions(
            registry=state.streams,
            heartbeat_interval=gateway.heartbeat_interval,
            origin_check=_socket_origin_check(request.app[SECURITY]),
            max_message_bytes=gateway.max_request_bytes,
        ),
    )


def _socket_origin_check(policy: SecurityPolicy) -> Callable[[web.Request], bool]:
    """Browsers apply no same-origin rule to WebSockets, so the upgrade's ``Origin``
    passes the same test as any request (``gateway.cors``; CVE-2025-52882's hole).
    The security middleware has already refused others; this keeps the socket's own
    check in agreement with it rather than stricter."""

    def check(upgrade: web.Request) -> bool:
        origin = upgrade.headers.get("Origin")
        return (
            origin is None
            or policy.same_origin(upgrade, origin)
            or policy.origins.allows(origin)
        )

    return check


async def _stream_errors(
    request: web.Request, state: GatewayState, exc: RequestError
) -> web.StreamResponse:
    async def events() -> AsyncIterator[StreamEvent]:
        yield StreamEvent(None, {"errors": exc.graphql_errors()})

    return await stream_events(
        request,
        state.streams,
        observed_events(request, events, "sse"),
        heartbeat_interval=state.config.gateway.heartbeat_interval,
    )


async def health_handler(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready_handler(request: web.Request) -> web.Response:
    """200 once the supergraph is composed and every in-process subgraph started;
    the body lists each subgraph with the outcome of its last fetch."""
    state = request.app[STATE]
    if state.engine is None or state.shutting_down:
        status = "shutting_down" if state.shutting_down else "starting"
        return web.json_response({"status": status}, status=503)
    body: dict[str, Any] = {
        "status": "ready",
        "subgraphs": subgraph_health(state.config, request.app[METRICS]),
    }
    if state.reloader is not None:
        body["reload"] = reload_health(state.reloader.status)
    return web.json_response(body)


# -- lifetime --------------------------------------------------------------------------


def _tracing(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    settings = config.gateway.telemetry.tracing

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        if settings.exporter is None:
            yield
            return
        current = tracing.configure(
            settings.exporter,
            endpoint=settings.endpoint,
            service_name=settings.service_name,
        )
        try:
            yield
        finally:
            if current is not None and tracing.tracing() is current:
                await asyncio.to_thread(current.shutdown)  # flushes pending spans
                tracing.configure(None)

    return lifetime


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=256, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
    ) as session:
        state.session = session
        state.client = HTTP1Client()
        try:
            yield
        finally:
            await state.client.close()
            state.client = None
            state.session = None


@dataclass(frozen=True, slots=True)
class _Graphs:
    """The base graph and each feature flag's graph, built from one config."""

    supergraph: Supergraph
    engine: Engine
    flags: dict[str, Engine]


async def _build(app: web.Application, config: Config, *, wait: float) -> _Graphs:
    """The base graph, then every feature flag's (Cosmo: each composes the base
    subgraphs with its feature subgraphs in place of those they replace)."""
    supergraph, engine = await _build_one(app, config, wait=wait)
    flags: dict[str, Engine] = {}
    for flag in config.feature_flags:
        try:
            flags[flag.name] = (
                await _build_one(app, config.for_flag(flag.name), wait=wait)
            )[1]
        except GatewayError:
            logger.error("feature flag %r does not build:", flag.name)
            raise
    if flags:
        logger.info("feature flags: %s", ", ".join(flags))
    return _Graphs(supergraph, engine, flags)


async def _build_one(
    app: web.Application, config: Config, *, wait: float
) -> tuple[Supergraph, Engine]:
    """Start the in-process subgraphs ``config`` adds, compose, and build an engine."""
    state = app[STATE]
    assert state.session is not None and state.client is not None
    metrics = app[METRICS]
    locals_ = await state.pool.acquire(config)
    supergraph = await compose_config(config, locals_, state.session, wait=wait)
    for local in locals_.values():
        for local_collector in local.collectors:
            metrics.register(local_collector)
    transports: dict[str, Transport] = {
        name: metrics.metered(transport)
        for name, transport in build_transports(config, locals_, state.client).items()
    }
    if tracing.tracing() is not None:
        transports = {n: tracing.TracedTransport(t) for n, t in transports.items()}
    limits = config.gateway.limits
    engine = Engine(
        supergraph,
        transports,
        document_cache_size=config.gateway.document_cache_size,
        plan_cache_size=config.gateway.plan_cache_size,
        errors=error_policy(config),
        document_cache_bytes=limits.document_cache_bytes,
        plan_cache_bytes=limits.plan_cache_bytes,
        limits=limits.operation,
        authorizer=_authorizer(config, supergraph),
    )
    return supergraph, engine


def _install(app: web.Application, config: Config, graphs: _Graphs) -> None:
    state = app[STATE]
    state.config = config
    state.headers = header_policy(config)
    state.supergraph = graphs.supergraph
    state.flags = graphs.flags
    state.engine = engine = graphs.engine
    app[METRICS].watch_caches(lambda: _caches(engine))


async def _apply_reload(app: web.Application, config: Config) -> None:
    """Swap to ``config``: requests in flight finish on the old engine; streams
    whose subgraphs and fields remain keep streaming on it; the others end."""
    state = app[STATE]
    old = state.config
    try:
        graphs = await _build(app, config, wait=0.0)
    except BaseException:
        await state.pool.release_except(old)  # what this attempt started
        raise
    _install(app, config, graphs)
    before = {s.name: s for s in all_subgraphs(old)}
    kept = {
        s.name
        for s in all_subgraphs(config)
        if s.name in before and same_subgraph(before[s.name], s)
    }
    schemas: dict[str | None, GraphQLSchema] = {None: graphs.supergraph.schema}
    schemas.update({name: e.supergraph.schema for name, e in graphs.flags.items()})
    ended = state.live.invalidate(schemas, kept.__contains__)
    if ended:
        logger.info(
            "reload ended %d subscription(s) whose fields or subgraphs are gone", ended
        )
        await asyncio.sleep(0)  # their error events go out before their sources stop
    await state.pool.release_except(config)
    _log_subgraphs("gateway reloaded", config)


def _log_subgraphs(what: str, config: Config) -> None:
    logger.info(
        "%s: %d subgraph(s): %s",
        what,
        len(config.subgraphs),
        ", ".join(
            f"{s.name} ({'in-process' if s.is_local else s.routing_url})"
            for s in config.subgraphs
        ),
    )


async def _subgraphs_and_engine(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    config = state.config
    try:
        graphs = await _build(app, config, wait=config.gateway.startup_wait)
        _install(app, config, graphs)
        _log_subgraphs("gateway ready", config)
        yield
    finally:
        app[METRICS].watch_caches(None)
        state.engine = None
        await state.pool.close()


async def _reloading(app: web.Application) -> AsyncIterator[None]:
    """SIGHUP reloads; with ``gateway.watch`` the files do too; with
    ``gateway.introspection_poll_interval`` remote SDLs are polled."""
    state = app[STATE]
    path = state.config.path
    if path is None:
        yield
        return
    reloader = Reloader(
        Path(path), lambda: app[STATE].config, lambda c: _apply_reload(app, c)
    )
    state.reloader = reloader
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Coroutine[Any, Any, Any]) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    stop = asyncio.Event()
    hup = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, lambda: spawn(reloader.reload("SIGHUP")))
        hup = True
    if state.config.gateway.watch:
        spawn(_watch(app, reloader, stop))
    if state.config.gateway.introspection_poll_interval > 0:
        spawn(_poll(app, reloader, stop))
    try:
        yield
    finally:
        stop.set()
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _watch(app: web.Application, reloader: Reloader, stop: asyncio.Event) -> None:
    logger.info("watching %s and its SDL files for changes", reloader.path)
    async for changed in watch_files(lambda: config_files(app[STATE].config), stop):
        names = ", ".join(sorted(path.name for path in changed))
        await reloader.reload(f"changed: {names}")


async def _poll(app: web.Application, reloader: Reloader, stop: asyncio.Event) -> None:
    """Introspect the remote subgraphs again every interval; reload on a change."""
    while not stop.is_set():
        state = app[STATE]
        interval = state.config.gateway.introspection_poll_interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
            return
        current = state.supergraph
        if current is None or state.session is None:
            continue
        config = state.config
        try:
            locals_ = await state.pool.acquire(config)
            polled = await compose_config(config, locals_, state.session)
        except GatewayError as exc:
            logger.warning("polling the subgraphs' SDL failed: %s", exc.message)
            continue
        if polled.hash != current.hash:
            await reloader.reload("a remote subgraph's SDL changed")


def _caches(engine: Engine) -> list[tuple[str, object]]:
    """The engine's caches that count their hits and misses, by name."""
    caches: list[tuple[str, object]] = [("documents", engine.operations.entries)]
    plans = getattr(engine.planner, "entries", None)
    if plans is not None:
        caches.append(("plans", plans))
    return caches


def _authorizer(config: Config, supergraph: Supergraph) -> Authorizer | None:
    """``@authenticated``/``@requiresScopes`` enforcement, when a field has one."""
    rules = AccessRules.from_supergraph(
        supergraph, config.gateway.authorization.requires_scopes
    )
    if not rules:
        return None
    if config.gateway.authentication.jwt is None:
        logger.warning(
            "some fields need a token (@authenticated/@requiresScopes) but "
            "gateway.authentication.jwt is not configured: they are always null"
        )
    return Authorizer(
        rules,
        reject=config.gateway.authorization.reject_unauthorized,
        cache_size=config.gateway.plan_cache_size,
    )


async def _on_shutdown(app: web.Application) -> None:
    state = app[STATE]
    state.shutting_down = True
    state.streams.shutdown()
    if state.connections is not None:
        state.connections.shutdown()
    await state.sockets.shutdown()


async def _close_connections(app: web.Application) -> None:
    connections = app[STATE].connections
    if connections is not None:
        await connections.close()


def persisted_documents(config: Config) -> PersistedDocuments:
    """APQ's store and the trusted documents of ``gateway.persisted_operations``."""
    settings = config.gateway.persisted
    return PersistedDocuments(
        trusted=load_manifest(settings.manifest) if settings.manifest else {},
        apq=DocumentStore(settings.apq_cache_bytes) if settings.apq else None,
        block_non_persisted=settings.block_non_persisted_operations
        or config.gateway.limits.block_non_persisted_operations,
    )


def create_app(config: Config) -> web.Application:
    """The gateway as an aiohttp application."""
    app = web.Application(
        client_max_size=config.gateway.max_request_bytes,
        handler_args=handler_args(config.gateway.limits.keepalive_timeout),
    )
    limits = StreamLimits(
        max_streams=config.gateway.max_streams,
        max_streams_per_client=config.gateway.max_streams_per_client,
    )
    streams = StreamRegistry(limits)
    app[STATE] = GatewayState(
        config=config,
        streams=streams,
        headers=header_policy(config),
        inflight=InflightRequests() if config.gateway.dedup_requests else None,
        persisted=persisted_documents(config),
        connections=SingleConnections(
            streams,
            heartbeat_interval=config.gateway.heartbeat_interval,
            max_per_client=config.gateway.max_streams_per_client,
        ),
    )
    install_observability(app, config)
    install_security(app, SecurityPolicy.from_config(config))
    path = config.gateway.graphql_path
    app.router.add_route("*", path, graphql_handler)
    if config.gateway.playground:
        add_playground_routes(app)
    app.router.add_get("/health", health_handler)
    app.router.add_get("/health/live", health_handler)
    app.router.add_get("/health/ready", ready_handler)
    app.cleanup_ctx.append(_tracing(config))
    app.cleanup_ctx.append(_client_session)
    install_authentication(app, config, lambda: app[STATE].session)
    app.cleanup_ctx.append(_subgraphs_and_engine)
    app.cleanup_ctx.append(_reloading)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_close_connections)
    return app


def _url_host(host: str) -> str:
    """The host as a browser reaches it: a wildcard address is this machine."""
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def run_app(
    config: Config,
    loop: asyncio.AbstractEventLoop,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the gateway on ``loop`` until SIGINT/SIGTERM; ``on_listening`` gets
    the GraphQL URL once the gateway is ready and listening."""
    host, port = config.gateway.host, config.gateway.port
    noise.install()
    noise.install(FRONT_LOGGER)

    def announce(message: object) -> None:
        del message
        if host in ("0.0.0.0", "::", "") and not config.gateway.allowed_hosts:
            logger.warning(
                "listening on every interface, but only requests for localhost, "
                "127.0.0.1 and [::1] are served: name this machine's other names "
                "in gateway.allowed_hosts"
            )
        url = f"http://{_url_host(host)}:{port}{config.gateway.graphql_path}"
        if config.gateway.playground:
            logger.info(
                "gateway listening on %s (open it in a browser: playground)", url
            )
        else:
            logger.info("gateway listening on %s", url)
        if on_listening is not None:
            on_listening(url)

    app = create_app(config)

    async def freeze_after_startup(_: web.Application) -> None:
        # Runs after the cleanup contexts' start-up: the engine, its schemas and
        # the query graph exist and live as long as the process.
        collector.freeze_long_lived()

    collector.tune()
    app.on_startup.append(freeze_after_startup)
    main = loop.create_task(_serve(app, config, announce))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass  # SIGINT or SIGTERM: the runner's cleanup below stops gracefully
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


SHUTDOWN_TIMEOUT = 4.0
"""Seconds requests being answered get to finish at shutdown."""


async def _serve(
    app: web.Application, config: Config, announce: Callable[[object], None]
) -> None:
    """Run ``app`` until cancelled (what ``aiohttp.web.run_app`` does), on a
    ``FrontSite`` unless ``gateway.fast_path`` is off."""
    runner = web.AppRunner(
        app,
        handle_signals=True,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        # A client that goes away cancels its handler: streams close their upstream.
        handler_cancellation=True,
    )
    await runner.setup()
    try:
        gateway = config.gateway
        site: web.TCPSite
        if gateway.fast_path:
            site = FrontSite(
                runner,
                gateway.host,
                gateway.port,
                lane=GraphQLLane(app),
                keepalive_timeout=gateway.limits.keepalive_timeout,
                shutdown_timeout=SHUTDOWN_TIMEOUT,
            )
        else:
            site = web.TCPSite(runner, gateway.host, gateway.port)
        await site.start()
        announce(site.name)
        await asyncio.Event().wait()  # until cancelled (SIGINT, SIGTERM)
    finally:
        await runner.cleanup()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks left at exit and let them finish."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
