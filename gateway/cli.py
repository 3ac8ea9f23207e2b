"""The ``gateway`` command: ``serve``, ``compose`` and ``plan``.

The only place that configures logging and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway import __version__
from gateway.config import Config, load_config, load_supergraph_config
from gateway.config.model import TelemetryConfig
from gateway.errors import CompositionError, ConfigError, GatewayError
from gateway.logs import JsonFormatter, RequestIdFilter, TextFormatter

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
        sub.add_argument(
            "--skip-unsupported",
            action="store_true",
            help="leave out subgraphs this gateway cannot serve (event-driven, gRPC, "
            "plugins) with a warning, instead of refusing the config",
        )
        sub.add_argument(
            "--log-format",
            default=None,
            choices=["text", "json"],
            help="log lines as text or one JSON object each "
            "(default: gateway.log_format, else text)",
        )

    serve = commands.add_parser("serve", help="run the gateway")
    add_config(serve)
    serve.add_argument(
        "--host", default=None, help="listen address (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="listen port (default 4000)"
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        default=None,
        help="reload when supergraph.yaml or an SDL file it names changes",
    )
    serve.add_argument(
        "--metrics-addr",
        default=None,
        metavar="HOST:PORT",
        help="where /metrics is served (default: "
        "gateway.telemetry.metrics.prometheus.listen_addr, else 127.0.0.1:8088)",
    )

    dev = commands.add_parser(
        "dev",
        help="serve for local development: reload on change, colour logs, "
        "the playground's URL",
    )
    add_config(dev)
    dev.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    dev.add_argument(
        "--port", type=int, default=None, help="listen port (default 4000)"
    )
    dev.add_argument(
        "--metrics-addr",
        default=None,
        metavar="HOST:PORT",
        help="where /metrics is served (default 127.0.0.1:8088)",
    )
    dev.add_argument(
        "--open", action="store_true", help="open the playground in a browser"
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


def _colour(stream: object) -> bool:
    """Colours for a terminal, unless NO_COLOR says not (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _configure_logging(
    level: str, log_format: str = "text", *, colour: bool = False
) -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else TextFormatter(colour=colour and _colour(sys.stderr))
    )
    logging.basicConfig(level=numeric, handlers=[handler])
    if numeric > logging.DEBUG:
        # The SDK logs an interrupted or crashed CLI as "Fatal error in message
        # reader"; the claude subgraph reports those itself, with error codes.
        logging.getLogger("claude_agent_sdk").setLevel(logging.CRITICAL)


def _load(args: argparse.Namespace) -> Config:
    if args.supergraph is not None:
        config = load_supergraph_config(args.supergraph)
    else:
        config = load_config(args.config, skip_unsupported=args.skip_unsupported)
    overrides = {}
    for name in ("host", "port", "watch"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if args.log_level is not None:
        overrides["log_level"] = args.log_level
    if args.log_format is not None:
        overrides["log_format"] = args.log_format
    if args.skip_unsupported:
        overrides["skip_unsupported"] = True
    metrics_addr = getattr(args, "metrics_addr", None)
    if metrics_addr is not None:
        overrides["telemetry"] = _telemetry_at(config, metrics_addr)
    if overrides:
        config = config.with_overrides(**overrides)
    return config


def _telemetry_at(config: Config, address: str) -> TelemetryConfig:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"expected host:port such as 127.0.0.1:8088, got {address!r}",
            key_path="--metrics-addr",
        )
    telemetry = config.gateway.telemetry
    metrics = dataclasses.replace(telemetry.metrics, listen_addr=address)
    return dataclasses.replace(telemetry, metrics=metrics)


def _dev_announcer(config: Config, open_browser: bool) -> Callable[[str], None]:
    def announce(url: str) -> None:
        watched = config.path.name if config.path else "the config"
        print(
            f"\n  Playground: {url}\n"
            f"  Reloading when {watched} or an SDL file it names changes.\n",
            flush=True,
        )
        if open_browser:
            import webbrowser

            if not webbrowser.open(url):
                logger.warning("no browser found to open %s", url)

    return announce


def _serve(config: Config, on_listening: Callable[[str], None] | None = None) -> int:
    from gateway.http.app import run_app

    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run_app(config, loop, on_listening)
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
        dev = args.command == "dev"
        if dev:
            config = config.with_overrides(watch=True)
        _configure_logging(
            config.gateway.log_level, config.gateway.log_format, colour=dev
        )
        for reason in config.skipped:
            logger.warning("left out: %s", reason)
        if args.command == "serve":
            return _serve(config)
        if dev:
            return _serve(config, _dev_announcer(config, args.open))
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
