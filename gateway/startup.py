"""supergraph.yaml to a runnable gateway: read every SDL, compose, build transports.

The HTTP server and the CLI's ``compose``/``plan`` commands share these steps:

1. ``load_local_subgraphs``: import the factories of in-process (``module:``) subgraphs;
2. ``read_subgraph_sdl``: a module's own SDL, the ``schema.file``, or introspection
   (``{ _service { sdl } }``) of a running subgraph;
3. ``compose_config``: Apollo Federation composition of those SDLs;
4. ``build_transports``: one ``Transport`` per subgraph (in-process, HTTP, SSE).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
import orjson

from gateway.composition import compose
from gateway.config import Config, SubgraphConfig
from gateway.errors import ConfigError, GatewayError, SubgraphError
from gateway.headers import HeaderPolicy
from gateway.local import LocalSubgraph, load_local_subgraph
from gateway.masking import ErrorPolicy
from gateway.supergraph import Supergraph
from gateway.transports.base import Transport
from gateway.transports.boundary import decode_graphql_response, mapped_errors
from gateway.transports.h1 import HTTP1Client
from gateway.transports.http import HTTPTransport
from gateway.transports.inprocess import InProcessTransport

__all__ = [
    "build_transports",
    "compose_config",
    "error_policy",
    "header_policy",
    "inherited_settings",
    "introspect_sdl",
    "introspect_waiting",
    "load_local_subgraphs",
    "read_subgraph_sdl",
]

logger = logging.getLogger("gateway.startup")

SERVICE_SDL_QUERY = "query __ServiceSDL { _service { sdl } }"


def _where(config: Config, subgraph: SubgraphConfig) -> dict[str, Any]:
    return {
        "file": str(config.path) if config.path else None,
        "line": subgraph.line,
        "key_path": f"subgraphs.{subgraph.name}",
    }


def inherited_settings(config: Config) -> dict[str, Any]:
    """The gateway settings in-process subgraphs may inherit
    (``gateway.local.settings``): ``roots`` when ``gateway.roots`` is set."""
    if not config.gateway.roots:
        return {}
    return {"roots": [str(root) for root in config.gateway.roots]}


def load_local_subgraphs(config: Config) -> dict[str, LocalSubgraph]:
    """Import and build every in-process subgraph (no I/O happens until lifespan)."""
    locals_: dict[str, LocalSubgraph] = {}
    inherited = inherited_settings(config)
    for subgraph in config.subgraphs:
        if subgraph.module is None:
            continue
        try:
            locals_[subgraph.name] = load_local_subgraph(
                subgraph.module, subgraph.options, inherited=inherited
            )
        except ConfigError as exc:
            raise ConfigError(
                exc.reason,
                **{
                    **_where(config, subgraph),
                    "key_path": f"subgraphs.{subgraph.name}.module",
                },
            ) from exc
    return locals_


async def introspect_sdl(
    name: str,
    url: str,
    session: aiohttp.ClientSession,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> str:
    """Ask a running subgraph for its SDL (``{ _service { sdl } }``)."""
    try:
        with mapped_errors(name, url, "introspection"):
            response = await session.post(
                url,
                data=orjson.dumps({"query": SERVICE_SDL_QUERY}),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    **(headers or {}),
                },
                timeout=aiohttp.ClientTimeout(total=timeout),
            )
            async with response:
                body = await response.read()
        result = decode_graphql_response(
            body,
            service=name,
            status=response.status,
            content_type=response.content_type,
        )
    except SubgraphError as exc:
        raise GatewayError(
            f"cannot introspect subgraph {name!r} at {url}: {exc.message}",
            code="INTROSPECTION_FAILED",
        ) from exc
    data = result.get("data") or {}
    service = data.get("_service") if isinstance(data, dict) else None
    sdl = service.get("sdl") if isinstance(service, dict) else None
    if not isinstance(sdl, str) or not sdl.strip():
        messages = "; ".join(e.get("message", "?") for e in result.get("errors", []))
        raise GatewayError(
            f"subgraph {name!r} at {url} did not return its SDL from _service"
            + (f": {messages}" if messages else ""),
            code="INTROSPECTION_FAILED",
        )
    return sdl


async def introspect_waiting(
    name: str,
    url: str,
    session: aiohttp.ClientSession,
    *,
    headers: Mapping[str, str] | None = None,
    wait: float = 0.0,
) -> str:
    """``introspect_sdl``, retried with backoff for up to ``wait`` seconds while the
    subgraph is not answering (it may start after the gateway). Each wait is
    logged, naming the subgraph; the last failure is raised when time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay, attempt = 0.2, 1
    while True:
        try:
            sdl = await introspect_sdl(name, url, session, headers=headers)
        except GatewayError as exc:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if attempt == 1:
                    raise
                raise GatewayError(
                    f"{exc.message} (tried {attempt} times in {wait:g}s)",
                    code=exc.code,
                ) from exc
            logger.warning(
                "waiting for subgraph %r at %s (attempt %d, %.0fs left): %s",
                name,
                url,
                attempt,
                remaining,
                exc.message,
            )
            await asyncio.sleep(min(delay, remaining))
            delay, attempt = min(delay * 2, 5.0), attempt + 1
            continue
        if attempt > 1:
            logger.info("subgraph %r answered after %d attempts", name, attempt)
        return sdl


async def read_subgraph_sdl(
    subgraph: SubgraphConfig,
    local: LocalSubgraph | None,
    session: aiohttp.ClientSession | None,
    *,
    wait: float = 0.0,
) -> str:
    """The SDL to compose for one subgraph.

    In-process subgraphs supply their own; otherwise the ``schema.file`` contents;
    otherwise introspection of ``introspection.url`` (or ``subgraph_url``), and a
    remote entry with no schema at all is introspected at its ``routing_url``.
    """
    if local is not None:
        return local.sdl
    if subgraph.sdl is not None:
        return subgraph.sdl
    if subgraph.introspection is not None:
        url, headers = subgraph.introspection.url, subgraph.introspection.headers
    elif subgraph.routing_url is not None:
        url, headers = subgraph.routing_url, {}
    else:  # config guarantees one of module/routing_url
        raise GatewayError(f"subgraph {subgraph.name!r} has no schema source")
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await introspect_waiting(
                subgraph.name, url, own_session, headers=headers, wait=wait
            )
    return await introspect_waiting(
        subgraph.name, url, session, headers=headers, wait=wait
    )


async def compose_config(
    config: Config,
    locals_: Mapping[str, LocalSubgraph],
    session: aiohttp.ClientSession | None = None,
    *,
    wait: float = 0.0,
) -> Supergraph:
    """Read every subgraph's SDL (concurrently) and compose them; a remote subgraph
    that does not answer introspection is retried for up to ``wait`` seconds."""
    sdls = await asyncio.gather(
        *(
            read_subgraph_sdl(subgraph, locals_.get(subgraph.name), session, wait=wait)
            for subgraph in config.subgraphs
        )
    )
    return compose(
        [
            (subgraph.name, sdl)
            for subgraph, sdl in zip(config.subgraphs, sdls, strict=True)
        ]
    )


def header_policy(config: Config) -> HeaderPolicy:
    """The propagation rules of every subgraph (``gateway.headers`` in
    supergraph.yaml): the edge applies them once per client request."""
    return HeaderPolicy.from_rules(
        config.gateway.headers, {s.name: s.headers for s in config.subgraphs}
    )


def error_policy(config: Config) -> ErrorPolicy:
    """What of an error clients see (``gateway.dev_mode``,
    ``gateway.subgraph_error_propagation``)."""
    return ErrorPolicy(
        dev_mode=config.gateway.dev_mode,
        propagation=config.gateway.subgraph_error_propagation,
    )


def build_transports(
    config: Config,
    locals_: Mapping[str, LocalSubgraph],
    client: HTTP1Client,
) -> dict[str, Transport]:
    """One transport per subgraph, keyed by subgraph name.

    A remote subgraph gets HTTP for queries and mutations and SSE for subscriptions
    (``subscription.protocol``: ``sse`` is GET, ``sse_post`` is POST; to
    ``subscription.url``, default ``routing_url``), with the same header
    propagation (``header_policy``, applied at the edge). ``ws`` opens them over
    WebSocket (``websocket_subprotocol``: ``auto`` by default).
    The SSE side has its own connection pool without a per-host limit (every
    subscription holds a connection), opened while subscriptions are open.
    """
    from gateway.transports.remote import RemoteTransport, StreamTransport
    from gateway.transports.sse import SSETransport
    from gateway.transports.ws import WSSubprotocol, WSTransport

    transports: dict[str, Transport] = {}
    for subgraph in config.subgraphs:
        local = locals_.get(subgraph.name)
        if local is not None:
            transports[subgraph.name] = InProcessTransport(
                subgraph.name, local, error_policy(config)
            )
            continue
        assert subgraph.routing_url is not None
        subscription = subgraph.subscription
        protocol = subscription.protocol if subscription else "sse"
        timeout = subgraph.timeout or config.gateway.subgraph_timeout
        http = HTTPTransport(
            subgraph.name,
            subgraph.routing_url,
            client,
            timeout=timeout,
            dedup=config.gateway.dedup_queries,
            max_response_bytes=subgraph.max_response_bytes
            or config.gateway.limits.subgraph_max_response_bytes,
        )
        url = subgraph.subscription_url or subgraph.routing_url
        streams: StreamTransport
        if protocol == "ws":
            subprotocol = subscription.websocket_subprotocol if subscription else None
            streams = WSTransport(
                subgraph.name,
                url,
                subprotocol=cast(WSSubprotocol, subprotocol or "auto"),
                timeout=timeout,
            )
        else:
            streams = SSETransport(
                subgraph.name,
                url,
                method="POST" if protocol == "sse_post" else "GET",
                timeout=timeout,
            )
        transports[subgraph.name] = RemoteTransport(http, streams)
    return transports
