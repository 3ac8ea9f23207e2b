"""A composed supergraph SDL as the source of the subgraphs (``--supergraph FILE``,
or ``supergraph:`` in supergraph.yaml).

Each subgraph named by the supergraph's ``join__Graph`` enum becomes a
``SubgraphConfig``: its ``routing_url`` is the graph's ``url`` and its SDL the one
``gateway.composition.supergraph_sdl`` rebuilds from the ``join__`` directives, so the
rest of the gateway composes it exactly as it composes subgraph SDL files.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.composition.supergraph_sdl import extract_subgraphs
from gateway.config.model import Config, SubgraphConfig
from gateway.errors import CompositionError, ConfigError

__all__ = ["load_supergraph_config", "subgraphs_from_supergraph"]


def load_supergraph_config(path: str | os.PathLike[str]) -> Config:
    """A configuration with the gateway's defaults and the subgraphs of the
    supergraph SDL at ``path``."""
    file = Path(path)
    return Config(
        path=file.resolve(),
        subgraphs=subgraphs_from_supergraph(file, str(path)),
    )


def subgraphs_from_supergraph(file: Path, shown: str) -> tuple[SubgraphConfig, ...]:
    """The subgraphs of the supergraph SDL in ``file``; ``ConfigError`` naming the
    file when it cannot be read or is not a supergraph."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError("supergraph file not found", file=shown) from None
    except IsADirectoryError:
        raise ConfigError(
            "is a directory, expected a supergraph SDL", file=shown
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    try:
        sdl = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "not valid UTF-8", file=shown, line=raw[: exc.start].count(b"\n") + 1
        ) from None
    try:
        extracted = extract_subgraphs(sdl)
    except CompositionError as exc:
        raise ConfigError(
            "; ".join(issue.message for issue in exc.issues), file=shown
        ) from None
    subgraphs = []
    for subgraph in extracted:
        if not subgraph.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"subgraph {subgraph.name!r} has no http(s) URL in @join__graph "
                f"(got {subgraph.url!r})",
                file=shown,
            )
        subgraphs.append(
            SubgraphConfig(
                name=subgraph.name, routing_url=subgraph.url, sdl=subgraph.sdl
            )
        )
    return tuple(subgraphs)
