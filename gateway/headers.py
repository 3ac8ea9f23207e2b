"""Header propagation to subgraphs: Cosmo-style ``propagate``/``set`` rules.

Nothing is forwarded unless a rule says so. Rules come from ``gateway.headers.all``
(every subgraph) and ``gateway.headers.subgraphs.<name>`` in supergraph.yaml; they are
applied in that order, so a subgraph's rules can override the global ones. A ``set``
rule may take its value from the request's verified token (``expression:
request.auth.claims.sub``): claims reach remote subgraphs this way only.
See https://cosmo-docs.wundergraph.com/router/proxy-capabilities#forward-http-headers-to-subgraphs
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway.authentication.identity import claim_at

if TYPE_CHECKING:
    from gateway.config import HeaderRule

__all__ = ["HOP_BY_HOP", "HeaderPolicy", "HeaderPropagator"]

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
        if all(rule.op == "set" and rule.claim is None for rule in self._rules):
            self._static = self._apply({}, None)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __call__(
        self, incoming: Mapping[str, str], claims: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        if self._static is not None:
            return dict(self._static)
        return self._apply(incoming, claims)

    def _apply(
        self, incoming: Mapping[str, str], claims: Mapping[str, Any] | None
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for rule in self._rules:
            if rule.op == "set":
                if rule.name is None:
                    continue
                if rule.claim is not None:
                    value = _claim_header(claims, rule.claim)
                    if value is not None:
                        out[rule.name] = value
                elif rule.value is not None:
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


class HeaderPolicy:
    """The propagation rules of every subgraph: the edge asks once per client
    request which headers each subgraph is sent (``for_request``)."""

    __slots__ = ("_propagators",)

    def __init__(self, propagators: Mapping[str, HeaderPropagator] | None = None):
        self._propagators = {
            name: propagator
            for name, propagator in (propagators or {}).items()
            if propagator
        }

    @classmethod
    def from_rules(
        cls,
        common: Sequence[HeaderRule],
        per_subgraph: Mapping[str, Sequence[HeaderRule]],
    ) -> HeaderPolicy:
        """``common`` rules apply to every subgraph, then its own."""
        return cls(
            {
                name: HeaderPropagator((*common, *rules))
                for name, rules in per_subgraph.items()
            }
        )

    def for_request(
        self, incoming: Mapping[str, str], claims: Mapping[str, Any] | None = None
    ) -> Mapping[str, Mapping[str, str]]:
        """Subgraph name -> headers to send it, for one client request (each
        subgraph's headers are computed the first time a fetch asks for them).
        ``claims``: the verified token's, for rules with an ``expression``."""
        if not self._propagators:
            return _NOTHING
        return _Forwarded(self._propagators, incoming, claims)


_NOTHING: Mapping[str, Mapping[str, str]] = {}


def _claim_header(claims: Mapping[str, Any] | None, path: str) -> str | None:
    """A claim as a header value: strings as they are, numbers and booleans as
    JSON spells them, lists of strings comma-separated; nothing else (a missing
    claim sets no header)."""
    if claims is None:
        return None
    value = claim_at(claims, path)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ",".join(value)
    else:
        return None
    # A header value cannot hold line breaks (header injection).
    return None if any(c in text for c in "\r\n\0") else text


class _Forwarded(Mapping[str, Mapping[str, str]]):
    """One client request's headers per subgraph, computed on first use."""

    __slots__ = ("_claims", "_done", "_incoming", "_propagators")

    def __init__(
        self,
        propagators: Mapping[str, HeaderPropagator],
        incoming: Mapping[str, str],
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        self._propagators = propagators
        self._incoming = incoming
        self._claims = claims
        self._done: dict[str, Mapping[str, str]] = {}

    def __getitem__(self, name: str) -> Mapping[str, str]:
        headers = self._done.get(name)
        if headers is None:
            headers = self._done[name] = self._propagators[name](
                self._incoming, self._claims
            )
        return headers

    def __iter__(self) -> Iterator[str]:
        return iter(self._propagators)

    def __len__(self) -> int:
        return len(self._propagators)
