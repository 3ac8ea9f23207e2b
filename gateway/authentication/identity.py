"""Identity: the verified claims of one request's token, and the scopes they grant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Identity", "claim_at"]


@dataclass(frozen=True, slots=True)
class Identity:
    """A request's verified token."""

    claims: Mapping[str, Any]
    scopes: frozenset[str] = frozenset()
    """From the ``scope`` claim (space-separated, RFC 8693 section 4.2) or the
    configured claim (a string or a list of strings)."""
    expires_at: float | None = None
    """``exp`` (seconds since the epoch), when the token has one."""
    token: str = ""

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], scope_claim: str = "scope", token: str = ""
    ) -> Identity:
        raw = claim_at(claims, scope_claim)
        scopes: frozenset[str]
        if isinstance(raw, str):
            scopes = frozenset(raw.split())
        elif isinstance(raw, list):
            scopes = frozenset(s for s in raw if isinstance(s, str))
        else:
            scopes = frozenset()
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else None
        return cls(claims, scopes, expires_at, token)


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted path (``sub``, ``realm_access.roles``), or ``None``."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
