"""The claude subgraph: sessions that run the Claude Code CLI and stream its output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigError
from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.metrics import CommandCollector
from subgraphs.claude.schema import SDL, make_schema
from subgraphs.claude.service import ClaudeService

__all__ = ["SDL", "ClaudeConfig", "ClaudeService", "create_subgraph"]


def create_subgraph(
    options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> LocalSubgraph:
    """The in-process subgraph for supergraph.yaml's ``module: subgraphs.claude``.

    ``options`` (db_path, cli_path, command_timeout, dangerous_mode, model, env,
    kill_grace, subscriber_queue_size) win over the environment (CLAUDE_DB_PATH /
    GATEWAY_STATE_DIR, CLAUDE_CLI_PATH, CLAUDE_COMMAND_TIMEOUT, CLAUDE_DANGEROUS_MODE,
    CLAUDE_MODEL). Nothing is opened here: ``lifespan()`` opens the database.
    """
    try:
        config = ClaudeConfig.from_options(options, environ)
    except ValueError as exc:
        raise ConfigError(f"claude subgraph options: {exc}") from exc
    service = ClaudeService(config)

    def context(request: RequestContext) -> dict[str, Any]:
        return {"request": request, "service": service}

    return LocalSubgraph(
        schema=make_schema(),
        sdl=SDL,
        lifespan=service.lifespan,
        context=context,
        collectors=(CommandCollector(service),),
    )
