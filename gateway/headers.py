"""Header propagation to subgraphs: Cosmo-style ``propagate``/``set`` rules.

Nothing is forwarded unless a rule says so. Rules come from ``gateway.headers.all``
(every subgraph) and ``gateway.headers.subgraphs.<name>`` in supergraph.yaml; they are
applied in that order, so a subgraph's rules can override the global ones.
See https://cosmo-docs.wundergraph.com/router/proxy-capabilities#forward-http-headers-to-subgraphs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import HeaderRule

__all__ = ["HOP_BY_HOP", "HeaderPropagator"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "accept",
        "accept-encoding",
    }
)
"""Headers that describe one HTTP hop: never propagated, whatever a rule says."""


class HeaderPropagator:
    """Computes the headers to send to one subgraph from the client's headers."""

    __slots__ = ("_rules", "_static")

    def __init__(self, rules: Sequence[HeaderRule]) -> None:
        self._rules = tuple(rules)
        # A list made only of ``set`` rules gives the same headers for every request.
        self._static: dict[str, str] | None = None
        if all(rule.op == "set" for rule in self._rules):
            self._static = self._apply({})

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __call__(self, incoming: Mapping[str, str]) -> dict[str, str]:
        if self._static is not None:
            return dict(self._static)
        return self._apply(incoming)

    def _apply(self, incoming: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for rule in self._rules:
            if rule.op == "set":
                if rule.name is not None and rule.value is not None:
                    out[rule.name] = rule.value
                continue
            if rule.named is not None:
                if rule.named.lower() in HOP_BY_HOP:
                    continue
                value = incoming.get(rule.named)
                if value is None:
                    value = rule.default
                if value is not None:
                    out[rule.rename or rule.named] = value
            elif rule.matching is not None:
                for name, value in incoming.items():
                    if name.lower() in HOP_BY_HOP or not rule.matching.search(name):
                        continue
                    out[rule.rename or name] = value
        return out
