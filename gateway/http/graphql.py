"""GraphQL over HTTP at the edge: content negotiation, request parsing, JSON answers.

The gateway's server and the standalone subgraph servers share these, so both speak
the same protocol with the same errors and statuses. Raw HTTP becomes a
``GraphQLRequest`` here and nowhere else.
See https://graphql.github.io/graphql-over-http/draft/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from gateway.caching import LRU
from gateway.errors import (
    BadRequestError,
    MethodNotAllowedError,
    NotAcceptableError,
    OperationError,
    PayloadTooLargeError,
    RequestError,
)
from gateway.http.body import read_body
from gateway.logs import note_errors
from gateway.operation import GraphQLRequest

__all__ = [
    "APPLICATION_JSON",
    "DEFER_SPEC",
    "EVENT_STREAM",
    "GRAPHQL_RESPONSE_JSON",
    "MULTIPART_MIXED",
    "SUBSCRIPTION_SPEC",
    "Answer",
    "Negotiated",
    "error_response",
    "error_status",
    "graphql_request_from_body",
    "json_response",
    "negotiate",
    "read_graphql_request",
]

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
EVENT_STREAM = "text/event-stream"
MULTIPART_MIXED = "multipart/mixed"
SUBSCRIPTION_SPEC = "subscriptionSpec=1.0"
"""Apollo's multipart subscriptions: each event a ``{"payload": ...}`` part."""
DEFER_SPEC = "deferSpec=20220824"
"""Apollo's incremental delivery over multipart: a result with ``hasNext``."""


# -- content negotiation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """One wire format to answer in: a media type and, for ``multipart/mixed``, which
    of Apollo's specs the parts follow (``subscriptionSpec=1.0`` or
    ``deferSpec=20220824``)."""

    media: str
    multipart_spec: str | None = None

    @property
    def streams(self) -> bool:
        return self.media in (EVENT_STREAM, MULTIPART_MIXED)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What ``Accept`` allows: ``single`` for a query or mutation, ``stream`` for a
    subscription (``None``: no streaming format was accepted)."""

    single: Answer
    stream: Answer | None


_JSON = Answer(APPLICATION_JSON)
_GRAPHQL_JSON = Answer(GRAPHQL_RESPONSE_JSON)
_SSE = Answer(EVENT_STREAM)


class _Range(NamedTuple):
    media: str
    params: dict[str, str]
    q: float
    order: int


def _parse_accept(header: str) -> list[_Range]:
    """``Accept`` as media ranges with their parameters and q, in the order given.
    See https://www.rfc-editor.org/rfc/rfc9110#name-accept"""
    out: list[_Range] = []
    for order, part in enumerate(header.split(",")):
        media, _, rest = part.strip().partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        params: dict[str, str] = {}
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            key = key.strip().lower()
            value = value.strip().strip('"')
            if key == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
            elif key:
                params[key] = value
        out.append(_Range(media, params, q, order))
    return out


def _match(ranges: list[_Range], answer: Answer) -> tuple[float, int] | None:
    """The q and order of the most specific range that accepts ``answer`` (RFC
    9110: ``type/subtype`` over ``type/*`` over ``*/*``). A wildcard stands for
    plain JSON only (the spec's legacy default); the others must be named."""
    kind = answer.media.split("/")[0]
    best: tuple[int, _Range] | None = None
    for r in ranges:
        if r.media == answer.media:
            specificity = 2
        elif answer.media == APPLICATION_JSON and r.media in (f"{kind}/*", "*/*"):
            specificity = 1 if r.media.endswith("/*") and r.media != "*/*" else 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, r)
    if best is None:
        return None
    return best[1].q, best[1].order


def _multipart(ranges: list[_Range]) -> Answer | None:
    for r in ranges:
        if r.media == MULTIPART_MIXED:
            if "subscriptionspec" in r.params:
                return Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC)
            return Answer(MULTIPART_MIXED, DEFER_SPEC)
    return None


def _best(
    ranges: list[_Range], answers: list[Answer], *, by_order: bool = True
) -> Answer | None:
    """The answer with the highest q; on a tie, the one listed first (unless
    ``by_order`` is false), then the first in ``answers``."""
    best: tuple[float, int, int, Answer] | None = None
    for rank, answer in enumerate(answers):
        match = _match(ranges, answer)
        if match is None or match[0] <= 0:
            continue
        key = (-match[0], match[1] if by_order else 0, rank, answer)
        if best is None or key[:3] < best[:3]:
            best = key
    return None if best is None else best[3]


_NEGOTIATED: LRU[tuple[str, bool], Negotiated] = LRU(256, 256 * 1024)
"""``negotiate``'s answers by ``Accept`` (clients send a handful of distinct ones)."""


def negotiate(accept: str | None, *, multipart: bool = True) -> Negotiated:
    """The wire formats to answer with, by ``Accept``'s q-values and order.

    A query or mutation gets the best of GraphQL response JSON, JSON, an event
    stream and ``multipart/mixed``: JSON wins over a stream listed after it with the
    same q (urql's and Apollo Client's defaults); on a tie between the two JSON types,
    GraphQL response JSON. A subscription streams in the best
    of ``text/event-stream`` and ``multipart/mixed`` accepted. A missing ``Accept``
    means ``application/json`` (the spec's legacy rule); an ``Accept`` that allows
    none of them raises ``NotAcceptableError`` (406). ``multipart=False``: a
    server that streams only SSE (the standalone subgraph servers).
    """
    if not accept:
        return Negotiated(_JSON, None)
    key = (accept, multipart)
    found = _NEGOTIATED.get(key)
    if found is None:
        found = _negotiate(accept, multipart)  # raises for an unacceptable Accept
        _NEGOTIATED.put(key, found, len(accept) + 200)
    return found


def _negotiate(accept: str, multipart: bool) -> Negotiated:
    ranges = _parse_accept(accept)
    multipart_answer = _multipart(ranges) if multipart else None
    streams = [_SSE] if multipart_answer is None else [_SSE, multipart_answer]
    # Between the two JSON types the server's preference decides a tie; between
    # JSON and a stream, the client's order does.
    json = _best(ranges, [_GRAPHQL_JSON, _JSON], by_order=False)
    single = _best(ranges, [*([json] if json else []), *streams])
    if single is None:
        raise NotAcceptableError(
            f"cannot answer with any of {accept!r}; accepted: "
            f"{GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON}, {EVENT_STREAM}"
            + (f", {MULTIPART_MIXED};{SUBSCRIPTION_SPEC}" if multipart else "")
        )
    return Negotiated(single, _best(ranges, streams))


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
    extensions = _json_param(params.get("extensions"), "extensions")
    persisted = extensions is not None and "persistedQuery" in extensions
    if query is None or (persisted and from_query_string and query == ""):
        if not persisted:
            raise BadRequestError("the request has no 'query'")
        query = None  # APQ: the document comes from the store
    elif not isinstance(query, str):
        raise BadRequestError("'query' must be a string")
    operation_name = params.get("operationName")
    if operation_name == "" and from_query_string:
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequestError("'operationName' must be a string")
    variables = _json_param(params.get("variables"), "variables")
    return GraphQLRequest(
        query=query,
        operation_name=operation_name,
        variables=variables,
        extensions=extensions,
    )


async def read_graphql_request(
    request: web.Request, max_bytes: int, *, body_timeout: float = 30.0
) -> GraphQLRequest:
    """GET query parameters or a POST JSON body, as a ``GraphQLRequest``. The body
    is read within ``max_bytes`` and ``body_timeout`` seconds (``read_body``)."""
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
    return graphql_request_from_body(await read_body(request, max_bytes, body_timeout))


def graphql_request_from_body(body: bytes) -> GraphQLRequest:
    """A POST's JSON body (already read and decoded) as a ``GraphQLRequest``."""
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


def error_status(exc: RequestError, media: str, *, keep_status: bool = False) -> int:
    """The status of a request error. With ``application/json`` the spec keeps 200
    for errors of the GraphQL document (parse, validation, variables);
    ``application/graphql-response+json`` uses 4xx."""
    if (
        media == APPLICATION_JSON
        and isinstance(exc, OperationError)
        and not keep_status
    ):
        return 200
    return exc.status


def error_response(
    exc: RequestError, media: str, *, keep_status: bool = False
) -> web.Response:
    """A request error, with the status the GraphQL-over-HTTP spec asks for
    (``error_status``)."""
    status = error_status(exc, media, keep_status=keep_status)
    response = json_response(
        {"errors": exc.graphql_errors()},
        media,
        status=status,
        headers=exc.headers or None,
    )
    if status in (408, 413):
        # The body was not read to its end: the connection cannot be reused.
        response.force_close()
    return response
