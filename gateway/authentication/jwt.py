"""JwtAuthenticator: a request's bearer token checked (signature, time, issuer,
audience) against the JWKS key sets, with PyJWT doing the cryptography.

See https://www.rfc-editor.org/rfc/rfc7519 (JWT) and
https://www.rfc-editor.org/rfc/rfc6750#section-2.1 (the Authorization header)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from gateway.authentication.identity import Identity
from gateway.authentication.jwks import KeySets
from gateway.config.auth import JwtConfig
from gateway.errors import UnauthenticatedError

__all__ = ["JwtAuthenticator"]

logger = logging.getLogger("gateway.authentication.jwt")

_KEY_TYPES: Mapping[str, str] = {
    "RS": "RSA",
    "PS": "RSA",
    "ES": "EC",
    "Ed": "OKP",
    "HS": "oct",
}


class JwtAuthenticator:
    """Reads and verifies the token of one request."""

    def __init__(self, config: JwtConfig, keys: KeySets) -> None:
        self.config = config
        self.keys = keys
        self._prefix = config.header_value_prefix.lower()

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        """The token in the configured header, ``None`` when there is no header.
        Raises ``UnauthenticatedError`` for a header without the prefix."""
        raw = headers.get(self.config.header_name)
        if raw is None:
            return None
        return self.token_in(raw)

    def token_in(self, raw: str) -> str:
        """The token in a header value (``Bearer <token>``)."""
        value = raw.strip()
        if self._prefix:
            head, _, rest = value.partition(" ")
            if head.lower() != self._prefix or not rest.strip():
                raise UnauthenticatedError(
                    f"the {self.config.header_name} header must be "
                    f"'{self.config.header_value_prefix} <token>'"
                )
            value = rest.strip()
        if not value:
            raise UnauthenticatedError(f"the {self.config.header_name} header is empty")
        return value

    async def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The request's identity; ``None`` without a token. Raises
        ``UnauthenticatedError`` for a token that does not verify."""
        token = self.token_of(headers)
        if token is None:
            return None
        return await self.verify(token)

    async def verify(self, token: str) -> Identity:
        config = self.config
        try:
            header = jwt.get_unverified_header(token)
        except DecodeError:
            raise UnauthenticatedError("the token is not a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in config.algorithms:
            raise UnauthenticatedError(
                f"the token's algorithm {alg!r} is not accepted "
                f"(gateway.authentication.jwt.algorithms)"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise UnauthenticatedError("the token's kid is not a string")
        candidates = [
            key
            for key in await self.keys.keys_for(kid)
            if _fits(key.key_type or "", getattr(key, "algorithm_name", None), alg)
        ]
        if not candidates:
            if kid is not None:
                raise UnauthenticatedError(f"no JWKS key has the token's kid {kid!r}")
            raise UnauthenticatedError(f"no JWKS key can verify an {alg} token")
        error: PyJWTError | None = None
        for key in candidates:
            try:
                claims = self._decode(token, key.key, alg)
            except InvalidSignatureError as exc:
                error = exc
                continue  # another key without a kid may fit
            except PyJWTError as exc:
                raise UnauthenticatedError(_reason(exc)) from None
            return Identity.from_claims(claims, config.scope_claim, token)
        assert error is not None
        raise UnauthenticatedError(_reason(error))

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        config = self.config
        options: dict[str, Any] = {"verify_aud": bool(config.audience)}
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=list(config.audience) or None,
                issuer=config.issuer or None,
                leeway=config.clock_skew,
                options=options,  # type: ignore[arg-type]
            )
        except (ValueError, TypeError) as exc:  # a key unfit for the algorithm
            raise InvalidSignatureError(str(exc)) from None


def _fits(key_type: str, key_alg: str | None, alg: str) -> bool:
    """A key of this type (and, when it names one, algorithm) can verify ``alg``."""
    if key_alg is not None and key_alg != alg and _KEY_TYPES.get(alg[:2]) != "RSA":
        return False
    return _KEY_TYPES.get(alg[:2]) == key_type


def _reason(exc: PyJWTError) -> str:
    if isinstance(exc, ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(exc, InvalidIssuerError):
        return "the token's issuer is not accepted"
    if isinstance(exc, InvalidAudienceError):
        return "the token's audience is not accepted"
    if isinstance(exc, InvalidSignatureError):
        return "the token's signature does not verify"
    if isinstance(exc, MissingRequiredClaimError):
        return f"the token has no {exc.claim!r} claim"
    if isinstance(exc, DecodeError):
        return "the token is not a valid JWT"
    return f"the token is invalid: {exc}"
