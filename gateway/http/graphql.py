"""GraphQL over HTTP at the edge: content negotiation, request parsing, JSON answers.

The gateway's server and the standalone subgraph servers share these, so both speak
the same protocol with the same errors and statuses. Raw HTTP becomes a
``GraphQLRequest`` here and nowhere else.
See https://graphql.github.io/graphql-over-http/draft/
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.errors import (
    BadRequestError,
    MethodNotAllowedError,
    NotAcceptableError,
    OperationError,
    PayloadTooLargeError,
    RequestError,
)
from gateway.logs import note_errors
from gateway.operation import GraphQLRequest

__all__ = [
    "APPLICATION_JSON",
    "EVENT_STREAM",
    "GRAPHQL_RESPONSE_JSON",
    "error_response",
    "json_response",
    "negotiate",
    "read_graphql_request",
]

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
EVENT_STREAM = "text/event-stream"


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
    body = note_errors(body)
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
