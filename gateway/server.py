"""The gateway's HTTP server: GraphQL over HTTP, health, and the playground.

``create_app(config)`` builds the aiohttp application; the resources with a lifetime
(the shared ``ClientSession``, in-process subgraphs, the engine) live in
``cleanup_ctx``. See https://graphql.github.io/graphql-over-http/draft/
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from gateway.config import Config
from gateway.engine import Engine, Prepared
from gateway.errors import (
    BadRequestError,
    GatewayError,
    MethodNotAllowedError,
    NotAcceptableError,
    OperationError,
    PayloadTooLargeError,
    RequestError,
)
from gateway.operation import GraphQLRequest
from gateway.playground import playground_html
from gateway.startup import build_transports, compose_config, load_local_subgraphs
from gateway.streaming import (
    StreamEvent,
    StreamLimits,
    StreamRegistry,
    last_event_id,
    stream_events,
)
from gateway.supergraph import Supergraph
from gateway.transports.base import RequestContext

__all__ = ["STATE", "GatewayState", "create_app", "negotiate"]

logger = logging.getLogger("gateway.server")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
EVENT_STREAM = "text/event-stream"


@dataclass(slots=True)
class GatewayState:
    """What the running gateway holds; filled in by startup."""

    config: Config
    engine: Engine | None = None
    supergraph: Supergraph | None = None
    session: aiohttp.ClientSession | None = None
    shutting_down: bool = False
    streams: StreamRegistry = field(default_factory=StreamRegistry)


STATE = web.AppKey("state", GatewayState)


# -- content negotiation ---------------------------------------------------------------


def _parse_accept(header: str) -> list[tuple[str, float]]:
    """``Accept`` as (media type, q) pairs, in the order given."""
    out: list[tuple[str, float]] = []
    for part in header.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out.append((media, q))
    return out


def negotiate(accept: str | None) -> str:
    """The media type to answer with: an event stream, GraphQL response JSON or JSON.

    A missing ``Accept`` means ``application/json`` (the spec's legacy rule); an
    ``Accept`` that allows none of them raises ``NotAcceptableError`` (406).
    """
    if not accept:
        return APPLICATION_JSON
    best: str | None = None
    best_q = 0.0
    for media, q in _parse_accept(accept):
        if q <= 0:
            continue
        if media == EVENT_STREAM:
            return EVENT_STREAM
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = GRAPHQL_RESPONSE_JSON
        elif media in (APPLICATION_JSON, "application/*", "*/*"):
            candidate = APPLICATION_JSON
        else:
            continue
        if q > best_q or (q == best_q and candidate == GRAPHQL_RESPONSE_JSON):
            best, best_q = candidate, q
    if best is None:
        raise NotAcceptableError(
            f"cannot answer with any of {accept!r}; accepted: "
            f"{GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON}, {EVENT_STREAM}"
        )
    return best


# -- request parsing (the edge: raw HTTP becomes a GraphQLRequest here) ----------------


def _json_param(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value == "":
            return None
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRequestError(f"'{name}' is not valid JSON") from None
        if value is None:
            return None
    if not isinstance(value, dict):
        raise BadRequestError(f"'{name}' must be an object")
    return value


def _graphql_request(
    params: dict[str, Any], *, from_query_string: bool
) -> GraphQLRequest:
    query = params.get("query")
    if query is None:
        raise BadRequestError("the request has no 'query'")
    if not isinstance(query, str):
        raise BadRequestError("'query' must be a string")
    operation_name = params.get("operationName")
    if operation_name == "" and from_query_string:
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequestError("'operationName' must be a string")
    variables = _json_param(params.get("variables"), "variables")
    extensions = _json_param(params.get("extensions"), "extensions")
    return GraphQLRequest(
        query=query,
        operation_name=operation_name,
        variables=variables,
        extensions=extensions,
    )


async def read_graphql_request(request: web.Request, max_bytes: int) -> GraphQLRequest:
    """GET query parameters or a POST JSON body, as a ``GraphQLRequest``."""
    if request.method == "GET":
        return _graphql_request(dict(request.query), from_query_string=True)
    if request.method != "POST":
        raise MethodNotAllowedError(
            f"method {request.method} is not allowed",
            headers={"Allow": "GET, POST"},
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLargeError(
            f"the request body is {request.content_length} bytes; "
            f"the limit is {max_bytes}"
        )
    content_type = request.content_type
    if content_type not in (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON):
        raise BadRequestError(
            f"unsupported content type {content_type!r}; send application/json",
            code="UNSUPPORTED_MEDIA_TYPE",
            status=415,
        )
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"the request body is over the limit of {max_bytes} bytes"
        ) from None
    if len(body) > max_bytes:
        raise PayloadTooLargeError(
            f"the request body is over the limit of {max_bytes} bytes"
        )
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise BadRequestError("the request body must be a JSON object")
    return _graphql_request(params, from_query_string=False)


# -- responses -------------------------------------------------------------------------


def json_response(
    body: dict[str, Any],
    media: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type=media,
        charset="utf-8",
        headers=headers,
    )


def error_response(
    exc: RequestError, media: str, *, keep_status: bool = False
) -> web.Response:
    """A request error, with the status the GraphQL-over-HTTP spec asks for.

    With ``application/json`` the spec keeps 200 for errors of the GraphQL document
    (parse, validation, variables); ``application/graphql-response+json`` uses 4xx.
    """
    status = exc.status
    if (
        media == APPLICATION_JSON
        and isinstance(exc, OperationError)
        and not keep_status
    ):
        status = 200
    return json_response(
        {"errors": exc.graphql_errors()},
        media,
        status=status,
        headers=exc.headers or None,
    )


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
    if _wants_playground(request) and state.config.gateway.playground:
        return web.Response(
            text=playground_html(request.path), content_type="text/html"
        )
    try:
        media = negotiate(request.headers.get("Accept"))
    except NotAcceptableError as exc:
        return error_response(exc, APPLICATION_JSON)
    json_media = APPLICATION_JSON if media == EVENT_STREAM else media
    engine = state.engine
    if engine is None or state.shutting_down:
        return not_ready_response(json_media)
    try:
        graphql_request = await read_graphql_request(
            request, state.config.gateway.max_request_bytes
        )
        try:
            prepared = engine.prepare(graphql_request)
        except OperationError as exc:
            if media == EVENT_STREAM and exc.code != "GRAPHQL_PARSE_FAILED":
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
        context = RequestContext(headers=request.headers, remote=request.remote)
        if media == EVENT_STREAM:
            return await _stream(request, state, engine, prepared, context)
        if kind == "subscription":
            raise OperationError(
                "subscriptions need an event stream: send 'Accept: text/event-stream'",
                code="SUBSCRIPTION_REQUIRES_STREAM",
            )
    except RequestError as exc:
        # A stream request that fails before its stream starts keeps its 4xx.
        return error_response(exc, json_media, keep_status=media == EVENT_STREAM)
    result = await engine.execute(prepared, context)
    return json_response(result, media)


async def _stream(
    request: web.Request,
    state: GatewayState,
    engine: Engine,
    prepared: Prepared,
    context: RequestContext,
) -> web.StreamResponse:
    if prepared.operation.kind == "subscription":

        def events() -> AsyncIterator[StreamEvent]:
            return engine.subscribe(
                prepared, context, last_event_id=last_event_id(request)
            )

    else:

        async def events() -> AsyncIterator[StreamEvent]:
            yield StreamEvent(None, await engine.execute(prepared, context))

    return await stream_events(
        request,
        state.streams,
        events,
        heartbeat_interval=state.config.gateway.heartbeat_interval,
    )


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
        state.engine = Engine(
            supergraph,
            transports,
            document_cache_size=config.gateway.document_cache_size,
            plan_cache_size=config.gateway.plan_cache_size,
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


async def _on_shutdown(app: web.Application) -> None:
    state = app[STATE]
    state.shutting_down = True
    state.streams.shutdown()


def create_app(config: Config) -> web.Application:
    """The gateway as an aiohttp application."""
    app = web.Application(client_max_size=config.gateway.max_request_bytes)
    limits = StreamLimits(
        max_streams=config.gateway.max_streams,
        max_streams_per_client=config.gateway.max_streams_per_client,
    )
    app[STATE] = GatewayState(config=config, streams=StreamRegistry(limits))
    path = config.gateway.graphql_path
    app.router.add_route("*", path, graphql_handler)
    app.router.add_get("/health", health_handler)
    app.router.add_get("/health/live", health_handler)
    app.router.add_get("/health/ready", ready_handler)
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_subgraphs_and_engine)
    app.on_shutdown.append(_on_shutdown)
    return app
