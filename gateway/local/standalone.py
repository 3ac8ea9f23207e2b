"""The command line of a standalone subgraph: ``python -m subgraphs.<name> --port N``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.errors import GatewayError
from gateway.local.subgraph import LocalSubgraph

__all__ = ["main"]

logger = logging.getLogger("gateway.local.standalone")


def main(
    factory: Callable[[Mapping[str, Any]], LocalSubgraph],
    *,
    default_port: int,
    argv: Sequence[str] | None = None,
    prog: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> int:
    """The command line of a standalone subgraph (``python -m subgraphs.<name>``).

    ``factory(options)`` builds the subgraph, as the gateway does for in-process
    ones.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Serve a GraphQL subgraph.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"default {default_port}"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default info",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=30.0,
        help="seconds of silence before an SSE heartbeat comment (default 30)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to answer besides localhost, 127.0.0.1, [::1] and the "
        "listen address (the name in the gateway's routing_url); repeatable",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        local = factory(dict(options or {}))
    except GatewayError as exc:
        logger.error("cannot start the subgraph: %s", exc)
        return 2
    from gateway.http.subgraph_app import run_subgraph

    try:
        run_subgraph(
            local,
            host=args.host,
            port=args.port,
            heartbeat_interval=args.heartbeat_interval,
            allowed_hosts=tuple(args.allowed_host),
        )
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0
