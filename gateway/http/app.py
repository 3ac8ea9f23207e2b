"""The gateway's HTTP server: GraphQL over HTTP, health, and the playground.

``create_app(config)`` builds the aiohttp application; the resources with a lifetime
(the shared ``ClientSession``, in-process subgraphs, the engine) live in
``cleanup_ctx``. See https://graphql.github.io/graphql-over-http/draft/
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway import collector
from gateway.authentication import Identity
from gateway.authorization import AccessRules, Authorizer
from gateway.config import Config
from gateway.engine import Engine
from gateway.errors import (
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
from gateway.http.graphql import (
    APPLICATION_JSON,
    EVENT_STREAM,
    MULTIPART_MIXED,
    Answer,
    error_response,
    json_response,
    negotiate,
    read_graphql_request,
)
from gateway.http.multipart import MultipartEncoder
from gateway.http.playground import add_playground_routes, playground_response
from gateway.http.security import SECURITY, SecurityPolicy, install_security
from gateway.http.single_connection import SingleConnections, wants_single_connection
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
from gateway.masking import new_request_id
from gateway.operation import GraphQLRequest, Prepared
from gateway.persisted import DocumentStore, PersistedDocuments, load_manifest
from gateway.planner.nodes import plan_to_json
from gateway.startup import (
    build_transports,
    compose_config,
    error_policy,
    header_policy,
    load_local_subgraphs,
)
from gateway.supergraph import Supergraph
from gateway.transports.base import RequestContext

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
    shutting_down: bool = False
    streams: StreamRegistry = field(default_factory=StreamRegistry)
    headers: HeaderPolicy = field(default_factory=HeaderPolicy)
    """Which client headers each subgraph is sent (decided here, at the edge)."""
    sockets: Sockets = field(default_factory=Sockets)
    persisted: PersistedDocuments = field(default_factory=PersistedDocuments)
    """APQ's store and the trusted documents."""
    connections: SingleConnections | None = None
    """graphql-sse's single connection mode streams (set by ``create_app``)."""
    inflight: InflightRequests[tuple[bytes, int]] | None = None
    """Identical client queries in flight share one encoded answer
    (``gateway.dedup_requests``); ``None`` when off."""


STATE = web.AppKey("state", GatewayState)


def not_ready_response(media: str) -> web.Response:
    error = GatewayError("the gateway is not ready", code="GATEWAY_NOT_READY")
    return json_response(
        {"errors": [error.to_graphql()]},
        media,
        status=503,
        headers={"Retry-After": "1"},
    )


# -- handlers --------------------------------------------------------------------------


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
    try:
        graphql_request = await read_graphql_request(
            request,
            state.config.gateway.max_request_bytes,
            body_timeout=state.config.gateway.limits.body_read_timeout,
        )
        graphql_request = state.persisted.resolve(graphql_request)
        identity = await identify(request)
        try:
            prepared = await engine.prepare_async(graphql_request, identity)
        except OperationError as exc:
            if single.media == EVENT_STREAM and exc.code != "GRAPHQL_PARSE_FAILED":
                # Accepted as a stream: the errors are its one event.
                return await _stream_errors(request, state, exc)
            raise
        kind = prepared.operation.kind
        if request.method == "GET" and kind == "mutation":
            # GET must not change state; subscriptions over GET are how a browser
            # EventSource subscribes.
            raise MethodNotAllowedError(
                "mutations are not allowed over GET; use POST",
                headers={"Allow": "POST"},
            )
        context = RequestContext(
            headers=request.headers,
            remote=request.remote,
            forward=state.headers.for_request(
                request.headers, identity.claims if identity else None
            ),
            request_id=new_request_id(),
            claims=identity.claims if identity else None,
        )
        answer = negotiated.stream if kind == "subscription" else single
        if answer is None:
            raise OperationError(
                "subscriptions need a stream: send 'Accept: text/event-stream' or "
                "'Accept: multipart/mixed;subscriptionSpec=1.0'",
                code="SUBSCRIPTION_REQUIRES_STREAM",
            )
        if answer.streams:
            return await _stream(
                request, state, engine, prepared, context, answer, identity
            )
    except RequestError as exc:
        # A stream request that fails before its stream starts keeps its 4xx.
        return error_response(exc, json_media, keep_status=single.streams)
    if state.config.gateway.query_plans_exposed and _asks_for_plan(request):
        result, status = await _execute(engine, prepared, context)
        if status == 200:
            _add_query_plan(result, engine, prepared)
        return json_response(result, answer.media, status=status)
    inflight, key = state.inflight, None
    if inflight is not None:
        key = request_key(
            prepared, context, sees_client_headers=engine.sees_client_headers
        )
    if inflight is None or key is None:
        body, status = await _encoded(engine, prepared, context)
    else:
        body, status = await inflight.run(
            (answer.media, key), partial(_encoded, engine, prepared, context)
        )
    return web.Response(
        body=body, status=status, content_type=answer.media, charset="utf-8"
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
) -> tuple[bytes, int]:
    """The response body encoded, and its status: what identical requests share."""
    result, status = await _execute(engine, prepared, context)
    return orjson.dumps(result), status


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
        request, identity, _events(request, engine, prepared, context)
    )
    gateway = state.config.gateway
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
    request: web.Request, engine: Engine, prepared: Prepared, context: RequestContext
) -> Callable[[], AsyncIterator[StreamEvent]]:
    """The events of a prepared operation: a subscription's, or one result."""
    if prepared.operation.kind == "subscription":

        def events() -> AsyncIterator[StreamEvent]:
            return engine.subscribe(
                prepared, context, last_event_id=last_event_id(request)
            )

        return events

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
            request_id=new_request_id(),
        )
        return connections.start(
            request,
            dict(graphql_request.extensions or {}),
            _events(request, engine, prepared, context),
        )
    except RequestError as exc:
        return error_response(exc, APPLICATION_JSON, keep_status=True)


def _operation_runner(
    engine: Engine, persisted: PersistedDocuments, upgrade: web.Request
) -> OperationRunner:
    """How a socket runs one operation: the same persisted documents, prepare,
    authorization, execute and subscribe as over HTTP (mutations too: a socket is
    not a GET); a subscription ends when the connection's token expires."""
    jwt = upgrade.app[STATE].config.gateway.authentication.jwt
    scope_claim = jwt.scope_claim if jwt is not None else "scope"

    def run(
        graphql_request: GraphQLRequest, context: RequestContext
    ) -> Callable[[], AsyncIterator[StreamEvent]]:
        identity = (
            Identity.from_claims(context.claims, scope_claim)
            if context.claims is not None
            else None
        )
        prepared = engine.prepare(persisted.resolve(graphql_request), identity)
        if prepared.operation.kind == "subscription":
            return until_expiry(
                upgrade, identity, lambda: engine.subscribe(prepared, context)
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
        _operation_runner(engine, state.persisted, request),
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
        events,
        heartbeat_interval=state.config.gateway.heartbeat_interval,
    )


async def health_handler(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready_handler(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.engine is None or state.shutting_down:
        status = "shutting_down" if state.shutting_down else "starting"
        return web.json_response({"status": status}, status=503)
    subgraphs = [subgraph.name for subgraph in state.config.subgraphs]
    return web.json_response({"status": "ready", "subgraphs": subgraphs})


# -- lifetime --------------------------------------------------------------------------


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=256, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
    ) as session:
        state.session = session
        yield
        state.session = None


async def _subgraphs_and_engine(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    config = state.config
    assert state.session is not None
    locals_ = load_local_subgraphs(config)
    async with AsyncExitStack() as stack:
        for name, local in locals_.items():
            if local.lifespan is not None:
                logger.debug("starting in-process subgraph %s", name)
                await stack.enter_async_context(local.lifespan())
        supergraph = await compose_config(config, locals_, state.session)
        transports = build_transports(config, locals_, state.session)
        state.supergraph = supergraph
        limits = config.gateway.limits
        state.engine = Engine(
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
        logger.info(
            "gateway ready: %d subgraph(s): %s",
            len(config.subgraphs),
            ", ".join(
                f"{s.name} ({'in-process' if s.is_local else s.routing_url})"
                for s in config.subgraphs
            ),
        )
        yield
        state.engine = None


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
        block_non_persisted=settings.block_non_persisted_operations,
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
    install_security(app, SecurityPolicy.from_config(config))
    path = config.gateway.graphql_path
    app.router.add_route("*", path, graphql_handler)
    if config.gateway.playground:
        add_playground_routes(app)
    app.router.add_get("/health", health_handler)
    app.router.add_get("/health/live", health_handler)
    app.router.add_get("/health/ready", ready_handler)
    app.cleanup_ctx.append(_client_session)
    install_authentication(app, config, lambda: app[STATE].session)
    app.cleanup_ctx.append(_subgraphs_and_engine)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_close_connections)
    return app


def run_app(config: Config, loop: asyncio.AbstractEventLoop) -> None:
    """Serve the gateway on ``loop`` until SIGINT/SIGTERM."""
    host, port = config.gateway.host, config.gateway.port
    noise.install()

    def announce(message: object) -> None:
        del message
        if host in ("0.0.0.0", "::", "") and not config.gateway.allowed_hosts:
            logger.warning(
                "listening on every interface, but only requests for localhost, "
                "127.0.0.1 and [::1] are served: name this machine's other names "
                "in gateway.allowed_hosts"
            )
        logger.info(
            "gateway listening on http://%s:%d%s",
            host,
            port,
            config.gateway.graphql_path,
        )

    app = create_app(config)

    async def freeze_after_startup(_: web.Application) -> None:
        # Runs after the cleanup contexts' start-up: the engine, its schemas and
        # the query graph exist and live as long as the process.
        collector.freeze_long_lived()

    collector.tune()
    app.on_startup.append(freeze_after_startup)
    web.run_app(
        app,
        host=host,
        port=port,
        loop=loop,
        access_log=None,
        shutdown_timeout=4.0,
        # A client that goes away cancels its handler: streams close their upstream.
        handler_cancellation=True,
        print=announce,
    )
