"""Authentication: who sent a request, from a JWT checked against JWKS key sets.

``KeySets`` keeps every configured JWKS source's keys (refreshed in the background,
the last good keys kept when a source is down); ``JwtAuthenticator`` turns a
request's header into an ``Identity`` or raises ``UnauthenticatedError``.
"""

from __future__ import annotations

from gateway.authentication.identity import Identity
from gateway.authentication.jwks import JwksSource, KeySets
from gateway.authentication.jwt import JwtAuthenticator

__all__ = ["Identity", "JwksSource", "JwtAuthenticator", "KeySets"]
