"""gateway.authentication: JWKS key sets (refresh, down periods, unknown kids) and
token verification."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.authentication import JwtAuthenticator, KeySets
from gateway.config.auth import JwksConfig, JwtConfig
from gateway.errors import UnauthenticatedError
from tests.helpers.jwks import AUDIENCE, ISSUER, JwksServer, ec_key, rsa_key

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


async def url_of(aiohttp_server: Any, jwks: JwksServer) -> str:
    server = await aiohttp_server(jwks.app())
    return str(server.make_url("/jwks.json"))


def authenticator(
    sources: list[JwksConfig], *, min_refresh: float = 0, **settings: Any
) -> JwtAuthenticator:
    config = JwtConfig(
        jwks=tuple(sources), min_refresh_interval=min_refresh, **settings
    )
    return JwtAuthenticator(
        config, KeySets(config.jwks, min_refresh_interval=min_refresh)
    )


async def test_rs256_and_es256_tokens_verify_and_carry_their_scopes(
    aiohttp_server: Any,
) -> None:
    jwks = JwksServer([rsa_key("r"), ec_key("e")])
    auth = authenticator(
        [JwksConfig(url=await url_of(aiohttp_server, jwks))],
        issuer=(ISSUER,),
        audience=(AUDIENCE,),
    )
    await auth.keys.start()
    try:
        for key in jwks.keys:
            identity = await auth.authenticate(
                {"Authorization": f"Bearer {key.token(scope='a b')}"}
            )
            assert identity is not None
            assert identity.claims["sub"] == "u1"
            assert identity.scopes == {"a", "b"}
            assert identity.expires_at is not None
        assert await auth.authenticate({}) is None
    finally:
        await auth.keys.close()


async def test_a_file_source_and_a_configured_scope_claim(tmp_path: Path) -> None:
    key = ec_key("e")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk()]}))
    auth = authenticator(
        [JwksConfig(file=path)], scope_claim="realm.roles", header_value_prefix=""
    )
    await auth.keys.start()
    try:
        token = key.token(realm={"roles": ["admin", "dev"]})
        identity = await auth.authenticate({"Authorization": token})
        assert identity is not None and identity.scopes == {"admin", "dev"}
    finally:
        await auth.keys.close()


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"expires_in": -60}, "expired"),
        ({"issuer": "https://other.test/"}, "issuer"),
        ({"audience": "other"}, "audience"),
        ({"nbf": 4_000_000_000}, "not valid yet"),
    ],
)
async def test_tokens_that_do_not_verify_are_unauthenticated(
    tmp_path: Path, claims: dict[str, Any], words: str
) -> None:
    key = rsa_key("r")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk()]}))
    auth = authenticator(
        [JwksConfig(file=path)], issuer=(ISSUER,), audience=(AUDIENCE,), clock_skew=0
    )
    await auth.keys.start()
    with pytest.raises(UnauthenticatedError) as info:
        await auth.verify(key.token(**claims))
    assert words in info.value.message
    assert info.value.status == 401 and info.value.code == "UNAUTHENTICATED"


async def test_refused_algorithms_and_malformed_tokens(tmp_path: Path) -> None:
    key = rsa_key("r")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk()]}))
    auth = authenticator([JwksConfig(file=path)], algorithms=("ES256",))
    await auth.keys.start()
    unsigned = pyjwt.encode({"sub": "u1"}, None, algorithm="none")
    hs = pyjwt.encode(
        {"sub": "u1"}, "secret-secret-secret-secret-1234", algorithm="HS256"
    )
    for token, words in (
        (key.token(), "algorithm 'RS256' is not accepted"),
        (unsigned, "algorithm 'none' is not accepted"),
        (hs, "algorithm 'HS256' is not accepted"),
        ("not-a-jwt", "not a JWT"),
    ):
        with pytest.raises(UnauthenticatedError) as info:
            await auth.verify(token)
        assert words in info.value.message
    for header in ("Token abc", "Bearer", "Bearer  "):
        with pytest.raises(UnauthenticatedError):
            auth.token_in(header)


async def test_an_unknown_kid_refreshes_at_most_once_per_interval(
    aiohttp_server: Any,
) -> None:
    jwks = JwksServer([rsa_key("r1")])
    url = await url_of(aiohttp_server, jwks)
    auth = authenticator([JwksConfig(url=url)], min_refresh=3600)
    await auth.keys.start()
    try:
        assert jwks.fetches == 1
        rotated = rsa_key("r2")
        jwks.keys.append(rotated)
        # The start was the last refresh: within the interval, no new fetch.
        with pytest.raises(UnauthenticatedError, match="kid 'r2'"):
            await auth.verify(rotated.token())
        assert jwks.fetches == 1
        auth.keys.min_refresh_interval = 0
        identity = await auth.verify(rotated.token())
        assert identity.claims["sub"] == "u1" and jwks.fetches == 2
        auth.keys.min_refresh_interval = 3600
        for _ in range(5):  # made-up kids cost nothing more within the interval
            with pytest.raises(UnauthenticatedError):
                await auth.verify(rsa_key("made-up").token())
        assert jwks.fetches == 2
    finally:
        await auth.keys.close()


async def test_a_source_that_is_down_keeps_its_last_good_keys_and_logs_it(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = rsa_key("r1")
    jwks = JwksServer([key])
    url = await url_of(aiohttp_server, jwks)
    keys = KeySets([JwksConfig(url=url)])
    await keys.start()
    try:
        jwks.down = True
        with caplog.at_level(logging.WARNING, "gateway.authentication.jwks"):
            await keys.refresh()
        assert [k.key_id for k in await keys.keys_for("r1")] == ["r1"]
        assert (
            "HTTP status 503" in caplog.text and "keeping its 1 key(s)" in caplog.text
        )
        jwks.down = False
        jwks.keys = [rsa_key("r2")]
        await keys.refresh()
        assert [k.key_id for k in await keys.keys_for(None)] == ["r2"]
    finally:
        await keys.close()


async def test_a_source_never_read_has_no_keys_and_tokens_are_401(
    aiohttp_server: Any,
) -> None:
    jwks = JwksServer([rsa_key("r1")], down=True)
    auth = authenticator([JwksConfig(url=await url_of(aiohttp_server, jwks))])
    await auth.keys.start()
    try:
        with pytest.raises(UnauthenticatedError):
            await auth.verify(jwks.keys[0].token())
    finally:
        await auth.keys.close()


async def test_a_document_that_is_not_a_jwks_keeps_the_keys(tmp_path: Path) -> None:
    key = ec_key("e")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk(), {"kty": "nope"}]}))
    keys = KeySets([JwksConfig(file=path)])
    await keys.start()
    assert keys.key_count == 1  # the unusable key is skipped
    path.write_text("[1, 2]")
    await keys.refresh()
    assert keys.key_count == 1
