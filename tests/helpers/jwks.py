"""A JWKS server on loopback for tests, with keys that rotate and a down period,
and tokens signed by its keys (RS256 and ES256)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["AUDIENCE", "ISSUER", "JwksServer", "SigningKey", "ec_key", "rsa_key"]

ISSUER = "https://idp.test/"
AUDIENCE = "gateway-tests"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        if self.algorithm.startswith("RS"):
            jwk = json.loads(
                jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())
            )
        else:
            jwk = json.loads(
                jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key())
            )
        jwk.update(kid=self.kid, use="sig", alg=self.algorithm)
        return jwk

    def token(
        self,
        *,
        sub: str = "u1",
        scope: str | None = None,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        expires_in: float = 600,
        **claims: Any,
    ) -> str:
        now = time.time()
        payload: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "aud": audience,
            "iat": int(now),
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        if scope is not None:
            payload["scope"] = scope
        return jwt.encode(
            payload, self.private, algorithm=self.algorithm, headers={"kid": self.kid}
        )


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(
        kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class JwksServer:
    """``app()`` serves ``/jwks.json`` with ``keys`` (503 while ``down``)."""

    keys: list[SigningKey] = field(default_factory=list)
    down: bool = False
    fetches: int = 0

    def document(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    def app(self) -> web.Application:
        async def jwks(request: web.Request) -> web.Response:
            self.fetches += 1
            if self.down:
                return web.Response(status=503, text="down for maintenance")
            return web.json_response(self.document())

        app = web.Application()
        app.router.add_get("/jwks.json", jwks)
        return app
