"""``compose``: subgraph SDL in, a ``Supergraph`` out, through the named steps."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence

from gateway.composition.client_schema import build_client_schema
from gateway.composition.context import CompositionContext
from gateway.composition.issues import Issues
from gateway.composition.merge import merge
from gateway.composition.model import build_model
from gateway.composition.normalise import Subgraph, normalise, parse_subgraph
from gateway.composition.resolve import resolve
from gateway.composition.rules import validate
from gateway.supergraph import SubgraphInfo, Supergraph

__all__ = ["compose", "supergraph_hash"]

logger = logging.getLogger("gateway.composition")


def compose(subgraphs: Sequence[tuple[str, str]]) -> Supergraph:
    """Compose ``(name, sdl)`` pairs, in declaration order, into a ``Supergraph``.

    Raises ``CompositionError`` with every ``CompositionIssue`` found.
    """
    issues = Issues()
    _check_subgraph_names(subgraphs, issues)
    normalised: list[Subgraph] = []
    for name, sdl in subgraphs:
        document = parse_subgraph(name, sdl, issues)
        if document is not None:
            subgraph = normalise(name, sdl, document, issues)
            if subgraph is not None:
                normalised.append(subgraph)
    issues.raise_if_any()

    merged = merge(normalised, issues)
    resolve(merged, {s.name for s in normalised})
    validate(CompositionContext(normalised, merged, issues))
    issues.raise_if_any()

    schema = build_client_schema(merged, normalised, issues)
    issues.raise_if_any()
    assert schema is not None
    for hint in issues.hints:
        logger.warning("composition hint: %s", hint)
    return Supergraph(
        schema=schema,
        types=build_model(merged),
        subgraphs={
            s.name: SubgraphInfo(
                name=s.name,
                sdl=s.sdl,
                schema=s.schema,
                root_type_names=dict(s.root_type_names),
            )
            for s in normalised
        },
        hash=supergraph_hash(subgraphs),
        hints=tuple(issues.hints),
    )


def supergraph_hash(subgraphs: Sequence[tuple[str, str]]) -> str:
    """sha256 over the ``(name, sdl)`` pairs, in order."""
    payload = json.dumps([[name, sdl] for name, sdl in subgraphs], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_subgraph_names(subgraphs: Sequence[tuple[str, str]], issues: Issues) -> None:
    if not subgraphs:
        issues.error("NO_SUBGRAPHS", "there is no subgraph to compose")
    seen: set[str] = set()
    for name, _ in subgraphs:
        if not name:
            issues.error("INVALID_SUBGRAPH_NAME", "a subgraph has an empty name")
        elif name in seen:
            issues.error(
                "INVALID_SUBGRAPH_NAME", f"subgraph name {name!r} is used twice", name
            )
        seen.add(name)
