"""Browser guards of the HTTP edge: the Host check, CORS and CSRF prevention.

Three checks run before any handler, in this order, on every route:

1. **Host** (DNS rebinding): a ``Host`` that is not the listen address, ``localhost``,
   ``127.0.0.1``, ``[::1]`` or a ``gateway.allowed_hosts`` entry is answered 421 with
   ``HOST_NOT_ALLOWED``. A page whose name was rebound to 127.0.0.1 still sends its
   own name as ``Host``, so it never reaches a handler. Health endpoints too: one rule
   for every route is easier to reason about, and a probe can use ``localhost``.
2. **Origin** (CORS): a request whose ``Origin`` is neither the gateway's own origin
   nor allowed by ``gateway.cors`` is refused (403, ``ORIGIN_NOT_ALLOWED``), whatever
   its method or content type, so a foreign page never reaches a mutation. A
   preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed
   origin is answered here, 204. Responses to allowed cross-origin requests get
   ``Access-Control-Allow-Origin`` in ``on_response_prepare``, which runs inside
   ``prepare()``: streamed (SSE) responses get them before their headers leave.
3. **CSRF prevention**, as Apollo Server does it: on the GraphQL path, a GET that runs
   an operation, or a POST, must carry a header a browser would preflight
   (``Content-Type`` other than ``text/plain``, ``application/x-www-form-urlencoded``
   or ``multipart/form-data``; or a non-empty ``Apollo-Require-Preflight``,
   ``X-Apollo-Operation-Name`` or ``X-Requested-With``), else 400
   ``PREFLIGHT_REQUIRED``. Browser ``EventSource`` GETs (``Accept:
   text/event-stream``) cannot set headers and stay allowed unless the browser says
   they come from another site without an ``Origin``.

See https://fetch.spec.whatwg.org/#http-cors-protocol,
https://www.apollographql.com/docs/apollo-server/security/cors#preventing-cross-site-request-forgery-csrf
and https://httpwg.org/specs/rfc9110.html#status.421
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from gateway.config import Config
from gateway.config.model import CorsConfig
from gateway.errors import (
    HostNotAllowedError,
    OriginNotAllowedError,
    PreflightRequiredError,
    RequestError,
)
from gateway.http.graphql import APPLICATION_JSON, EVENT_STREAM, json_response

__all__ = [
    "SECURITY",
    "CsrfPrevention",
    "HostCheck",
    "OriginPolicy",
    "SecurityPolicy",
    "install_security",
    "security_middleware",
]

logger = logging.getLogger("gateway.http.security")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
"""What a browser sends cross-origin without a preflight."""
PREFLIGHT_HEADERS = (
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-requested-with",
)
"""Headers that only a script can set, and only after a preflight."""


def host_name(host: str) -> str:
    """The name in a ``Host`` header: lower case, without port or trailing dot;
    IPv6 addresses keep their brackets (``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, _, _ = host.partition(":")
    return name.rstrip(".")


def _listen_name(host: str) -> str | None:
    """The listen address as it appears in ``Host``; ``None`` for a wildcard."""
    host = host.strip().lower()
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.rstrip(".") or None
    if address.is_unspecified:
        return None
    return f"[{address.compressed}]" if address.version == 6 else str(address)


@dataclass(frozen=True, slots=True)
class HostCheck:
    """Which ``Host`` names this server answers to."""

    names: frozenset[str]
    suffixes: tuple[str, ...] = ()
    """From ``*.example.test`` entries: ``.example.test``."""
    any_host: bool = False

    @classmethod
    def build(cls, listen_host: str, allowed: Iterable[str]) -> HostCheck:
        names = set(LOOPBACK_NAMES)
        listen = _listen_name(listen_host)
        if listen is not None:
            names.add(listen)
        suffixes: list[str] = []
        any_host = False
        for entry in allowed:
            entry = entry.strip().lower()
            if entry == "*":
                any_host = True
            elif entry.startswith("*."):
                suffixes.append(entry[1:].rstrip("."))
            else:
                names.add(host_name(entry))
        return cls(frozenset(names), tuple(suffixes), any_host)

    def allows(self, host: str | None) -> bool:
        """A request without ``Host`` (HTTP/1.0) comes from no browser: allowed."""
        if host is None or self.any_host:
            return True
        name = host_name(host)
        if name in self.names:
            return True
        return any(name.endswith(suffix) for suffix in self.suffixes)


def _origin_pattern(entry: str) -> re.Pattern[str]:
    """``http://localhost:*``: ``*`` stands for host or port characters only, so
    ``http://*.example.test`` cannot match ``http://evil.test/.example.test``."""
    parts = (re.escape(part) for part in entry.lower().split("*"))
    return re.compile("[a-z0-9.-]*".join(parts))


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """``gateway.cors``: which origins a browser may call from, and how."""

    enabled: bool
    patterns: tuple[re.Pattern[str], ...]
    any_origin: bool
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    any_header: bool
    credentials: bool
    max_age: int

    @classmethod
    def build(cls, cors: CorsConfig) -> OriginPolicy:
        origins = [o for o in cors.allow_origins if o != "*"]
        return cls(
            enabled=cors.enabled,
            patterns=tuple(_origin_pattern(origin) for origin in origins),
            any_origin="*" in cors.allow_origins,
            methods=tuple(cors.allow_methods),
            headers=tuple(h for h in cors.allow_headers if h != "*"),
            any_header="*" in cors.allow_headers,
            credentials=cors.allow_credentials,
            max_age=cors.max_age,
        )

    def allows(self, origin: str) -> bool:
        if not self.enabled:
            return False
        if self.any_origin:
            return True
        origin = origin.lower()
        return any(pattern.fullmatch(origin) for pattern in self.patterns)

    def preflight_headers(
        self, origin: str, requested_headers: str | None
    ) -> dict[str, str]:
        """The answer to an allowed origin's preflight. Methods and headers not
        allowed are simply not listed: the browser then refuses the request."""
        if self.any_header and requested_headers:
            allow_headers = requested_headers
        else:
            allow_headers = ", ".join(self.headers)
        headers = {
            **self.response_headers(origin),
            "Access-Control-Allow-Methods": ", ".join(self.methods),
            "Access-Control-Max-Age": str(self.max_age),
        }
        if allow_headers:
            headers["Access-Control-Allow-Headers"] = allow_headers
        return headers

    def response_headers(self, origin: str) -> dict[str, str]:
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers


@dataclass(frozen=True, slots=True)
class CsrfPrevention:
    """Apollo Server's CSRF rule for the GraphQL path."""

    enabled: bool = True
    paths: frozenset[str] = frozenset({"/graphql"})
    """Where operations run (other routes run none)."""

    def refuses(self, request: web.Request) -> bool:
        if not self.enabled or request.path not in self.paths:
            return False
        method = request.method
        if method in ("GET", "HEAD"):
            if "query" not in request.query:
                return False  # the playground page, or a 400: nothing runs
            if _event_source(request):
                return False
        elif method != "POST":
            return False  # answered 405 by the handler; nothing runs
        return not _preflighted(request)


def _preflighted(request: web.Request) -> bool:
    """Would a browser have sent a preflight before this request?"""
    content_type = request.headers.get("Content-Type")
    if content_type is not None:
        media = content_type.partition(";")[0].strip().lower()
        if media and media not in SIMPLE_CONTENT_TYPES:
            return True
    return any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)


def _event_source(request: web.Request) -> bool:
    """An ``EventSource`` GET: it asks for an event stream and cannot set headers.
    A request that the browser marks cross-site and that has no ``Origin`` is no
    ``EventSource`` (which always sends ``Origin`` cross-origin)."""
    if EVENT_STREAM not in request.headers.get("Accept", ""):
        return False
    if "Origin" in request.headers:
        return True  # checked already: the gateway's own or an allowed origin
    return request.headers.get("Sec-Fetch-Site", "").lower() != "cross-site"


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """The three checks of one server."""

    hosts: HostCheck
    origins: OriginPolicy
    csrf: CsrfPrevention

    @classmethod
    def build(
        cls,
        *,
        listen_host: str,
        allowed_hosts: Iterable[str] = (),
        cors: CorsConfig | None = None,
        csrf_prevention: bool = True,
        graphql_paths: Iterable[str] = ("/graphql",),
    ) -> SecurityPolicy:
        return cls(
            hosts=HostCheck.build(listen_host, allowed_hosts),
            origins=OriginPolicy.build(cors or CorsConfig()),
            csrf=CsrfPrevention(csrf_prevention, frozenset(graphql_paths)),
        )

    @classmethod
    def from_config(cls, config: Config) -> SecurityPolicy:
        gateway = config.gateway
        return cls.build(
            listen_host=gateway.host,
            allowed_hosts=gateway.allowed_hosts,
            cors=gateway.cors,
            csrf_prevention=gateway.csrf_prevention,
            graphql_paths=(gateway.graphql_path,),
        )

    def same_origin(self, request: web.Request, origin: str) -> bool:
        """``Origin`` is this server as the client reached it (``Host``, which the
        Host check accepted)."""
        host = request.headers.get("Host")
        if host is None:
            return False
        return origin.lower() == f"{request.scheme}://{host.lower()}"

    def cross_origin(self, request: web.Request) -> str | None:
        """The ``Origin`` of an allowed cross-origin request, else ``None``."""
        origin = request.headers.get("Origin")
        if origin is None or self.same_origin(request, origin):
            return None
        return origin if self.origins.allows(origin) else None

    def check(self, request: web.Request) -> web.StreamResponse | None:
        """A response that ends the request here, or ``None`` to go on."""
        host = request.headers.get("Host")
        if not self.hosts.allows(host):
            logger.warning(
                "refused a request for host %r from %s (DNS rebinding?); "
                "allow it with gateway.allowed_hosts",
                host,
                request.remote,
            )
            return _refuse(
                HostNotAllowedError(
                    f"host {host_name(host or '')!r} is not served here; "
                    "the gateway answers to localhost, 127.0.0.1, [::1], its listen "
                    "address and gateway.allowed_hosts"
                )
            )
        origin = request.headers.get("Origin")
        if origin is not None and not self.same_origin(request, origin):
            if not self.origins.allows(origin):
                logger.info("refused a request from origin %r", origin)
                return _refuse(
                    OriginNotAllowedError(
                        f"origin {origin!r} is not allowed; "
                        "allow it with gateway.cors.allow_origins"
                    )
                )
            if (
                request.method == "OPTIONS"
                and "Access-Control-Request-Method" in request.headers
            ):
                return web.Response(
                    status=204,
                    headers=self.origins.preflight_headers(
                        origin, request.headers.get("Access-Control-Request-Headers")
                    ),
                )
        if self.csrf.refuses(request):
            return _refuse(
                PreflightRequiredError(
                    "this request may have come from a page on another site and was "
                    "refused (CSRF prevention): send it with 'Content-Type: "
                    "application/json', or with a non-empty 'Apollo-Require-Preflight'"
                    " or 'X-Requested-With' header"
                )
            )
        return None


def _refuse(error: RequestError) -> web.Response:
    return json_response(
        {"errors": [error.to_graphql()]}, APPLICATION_JSON, status=error.status
    )


SECURITY = web.AppKey("security", SecurityPolicy)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_middleware(
    request: web.Request, handler: _Handler
) -> web.StreamResponse:
    """The checks, before any handler (the app holds its policy under ``SECURITY``)."""
    refused = request.app[SECURITY].check(request)
    if refused is not None:
        return refused
    return await handler(request)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs inside ``prepare()``, before the headers are
    sent, so streamed responses get them too."""
    origin = request.app[SECURITY].cross_origin(request)
    if origin is None:
        return
    policy = request.app[SECURITY].origins
    for name, value in policy.response_headers(origin).items():
        if name == "Vary":
            vary = response.headers.get("Vary")
            if vary and "origin" in vary.lower():
                continue
            value = f"{vary}, {value}" if vary else value
        response.headers[name] = value


def install_security(app: web.Application, policy: SecurityPolicy) -> None:
    """Guard every route of ``app`` with ``policy``."""
    app[SECURITY] = policy
    app.middlewares.append(security_middleware)
    app.on_response_prepare.append(_cors_headers)
