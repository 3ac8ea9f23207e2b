"""The ``gateway`` command: ``serve``, ``compose`` and ``plan``.

The only place that configures logging and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import __version__
from gateway.config import Config, load_config, load_supergraph_config
from gateway.errors import CompositionError, GatewayError

__all__ = ["main"]

logger = logging.getLogger("gateway.cli")

DEFAULT_CONFIG = "supergraph.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="A self-contained GraphQL federation gateway.",
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            "-c",
            default=os.environ.get("GATEWAY_CONFIG", DEFAULT_CONFIG),
            help="supergraph.yaml to read (default: $GATEWAY_CONFIG or ./supergraph.yaml)",
        )
        sub.add_argument(
            "--supergraph",
            default=None,
            metavar="FILE",
            help="an Apollo-composed supergraph SDL (join__ directives) to serve "
            "instead of supergraph.yaml; its subgraphs are reached at their "
            "@join__graph URLs",
        )
        sub.add_argument(
            "--log-level",
            default=None,
            choices=["debug", "info", "warning", "error"],
            help="log level (default: gateway.log_level from the config, else info)",
        )

    serve = commands.add_parser("serve", help="run the gateway")
    add_config(serve)
    serve.add_argument(
        "--host", default=None, help="listen address (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="listen port (default 4000)"
    )

    compose = commands.add_parser(
        "compose", help="print the composed client schema as SDL"
    )
    add_config(compose)

    plan = commands.add_parser("plan", help="print the query plan of an operation")
    add_config(plan)
    plan.add_argument(
        "operation",
        help="the GraphQL operation text, @FILE to read it from a file, or - for stdin",
    )
    plan.add_argument("--operation-name", default=None)
    plan.add_argument(
        "--json",
        action="store_true",
        help="print the plan as JSON (the shape of extensions.queryPlan)",
    )
    return parser


def _configure_logging(level: str) -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(
        level=numeric,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if numeric > logging.DEBUG:
        # The SDK logs an interrupted or crashed CLI as "Fatal error in message
        # reader"; the claude subgraph reports those itself, with error codes.
        logging.getLogger("claude_agent_sdk").setLevel(logging.CRITICAL)


def _load(args: argparse.Namespace) -> Config:
    if args.supergraph is not None:
        config = load_supergraph_config(args.supergraph)
    else:
        config = load_config(args.config)
    overrides = {}
    for name in ("host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if args.log_level is not None:
        overrides["log_level"] = args.log_level
    if overrides:
        config = config.with_overrides(**overrides)
    return config


def _serve(config: Config) -> int:
    from gateway.http.app import run_app

    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run_app(config, loop)
    return 0


async def _compose(config: Config) -> str:
    from gateway.startup import compose_config, load_local_subgraphs

    supergraph = await compose_config(config, load_local_subgraphs(config))
    return supergraph.sdl


async def _plan(
    config: Config, text: str, operation_name: str | None, as_json: bool
) -> str:
    from gateway.engine import Engine
    from gateway.planner.nodes import plan_to_json, print_plan
    from gateway.startup import compose_config, load_local_subgraphs

    supergraph = await compose_config(config, load_local_subgraphs(config))
    engine = Engine(supergraph, {})
    plan = engine.plan_document(text, operation_name)
    if as_json:
        return json.dumps(plan_to_json(plan), indent=2)
    return print_plan(plan)


def _operation_text(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    if arg.startswith("@"):
        return Path(arg[1:]).read_text(encoding="utf-8")
    return arg


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _load(args)
        _configure_logging(config.gateway.log_level)
        if args.command == "serve":
            return _serve(config)
        if args.command == "compose":
            print(asyncio.run(_compose(config)), end="")
            return 0
        if args.command == "plan":
            text = _operation_text(args.operation)
            print(asyncio.run(_plan(config, text, args.operation_name, args.json)))
            return 0
    except CompositionError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"gateway: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2
