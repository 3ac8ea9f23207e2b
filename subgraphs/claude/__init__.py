"""The claude subgraph: sessions that run the Claude Code CLI and stream its output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigError
from gateway.local import LocalSubgraph, inherits
from gateway.transports.base import RequestContext
from subgraphs.claude.config import ClaudeConfig
from subgraphs.claude.schema import SDL, make_federated
from subgraphs.claude.service import ClaudeService

__all__ = ["SDL", "ClaudeConfig", "ClaudeService", "create_subgraph"]


@inherits("roots")  # gateway.roots, unless options.roots
def create_subgraph(
    options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> LocalSubgraph:
    """The in-process subgraph for supergraph.yaml's ``module: subgraphs.claude``.

    ``options`` (roots, db_path, cli_path, command_timeout, dangerous_mode, model,
    env, permission_timeout, interrupt_grace, kill_grace, subscriber_queue_size)
    win over the environment (CLAUDE_ROOTS, CLAUDE_DB_PATH / GATEWAY_STATE_DIR,
    CLAUDE_CLI_PATH, CLAUDE_COMMAND_TIMEOUT, CLAUDE_DANGEROUS_MODE, CLAUDE_MODEL,
    CLAUDE_ENV_ALLOW); see docs/claude.md. Nothing is opened here: ``lifespan()``
    locks the state directory and opens the database. Without ``roots`` here the
    loader passes ``gateway.roots`` when that is set (``@inherits``).
    """
    try:
        config = ClaudeConfig.from_options(options, environ)
    except ValueError as exc:
        raise ConfigError(f"claude subgraph options: {exc}") from exc
    service = ClaudeService(config)

    def context(request: RequestContext) -> dict[str, Any]:
        return {"request": request, "service": service}

    federated = make_federated()
    return LocalSubgraph(
        schema=federated.schema,
        sdl=federated.sdl,
        lifespan=service.lifespan,
        context=context,
    )
