"""gateway.http.auth.until_expiry: an event stream ends when its token expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.authentication import Identity
from gateway.errors import UnauthenticatedError
from gateway.events import StreamEvent
from gateway.http.auth import AUTHENTICATION, EdgeAuthentication, until_expiry


def request_with(close: bool) -> Any:
    return SimpleNamespace(
        app={AUTHENTICATION: EdgeAuthentication(None, close_expired_streams=close)}
    )


class Source:
    """Two events, then waits for more that never come; records its closing."""

    def __init__(self) -> None:
        self.closed = False

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            yield StreamEvent(None, {"data": {"n": 1}})
            yield StreamEvent(None, {"data": {"n": 2}})
            await asyncio.Event().wait()
        finally:
            self.closed = True


async def test_a_stream_whose_token_expires_gets_an_error_and_its_source_closes() -> (
    None
):
    source = Source()
    identity = Identity({"sub": "u1"}, expires_at=time.time() + 1.5)
    events = until_expiry(request_with(True), identity, source.events)
    seen = []
    with pytest.raises(UnauthenticatedError, match="expired"):
        async for event in events():
            seen.append(event.payload["data"]["n"])
    assert seen == [1, 2]
    assert source.closed


async def test_expiry_can_be_ignored_for_open_streams() -> None:
    source = Source()
    identity = Identity({"sub": "u1"}, expires_at=time.time() - 10)
    events = until_expiry(request_with(False), identity, source.events)
    assert events == source.events
    assert until_expiry(request_with(True), None, source.events) == source.events


async def test_a_connection_init_payload_carries_the_token(tmp_path: Any) -> None:
    import json

    from gateway.authentication import JwtAuthenticator, KeySets
    from gateway.config.auth import JwksConfig, JwtConfig
    from tests.helpers.jwks import rsa_key

    key = rsa_key("r")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk()]}))
    config = JwtConfig(jwks=(JwksConfig(file=path),))
    keys = KeySets(config.jwks)
    await keys.start()
    edge = EdgeAuthentication(JwtAuthenticator(config, keys), require=True)
    identity = await edge.identify_payload({"authorization": f"Bearer {key.token()}"})
    assert identity is not None and identity.claims["sub"] == "u1"
    for payload in ({}, None, {"Authorization": "Bearer nope"}, {"Authorization": 1}):
        with pytest.raises(UnauthenticatedError):
            await edge.identify_payload(payload)


async def test_the_token_s_timer_ends_the_stream_whatever_the_wall_clock_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The loop's timer can fire a moment before time.time() reaches the expiry
    # (uvloop rounds to milliseconds): that is still the token's expiry, not an
    # error of the source. Here the wall clock stands still before the expiry.
    import gateway.http.auth as auth

    now = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now)
    source = Source()
    identity = Identity({"sub": "u1"}, expires_at=now + 0.05)
    events = until_expiry(request_with(True), identity, source.events)
    seen = []
    with pytest.raises(UnauthenticatedError, match="expired"):
        async for event in events():
            seen.append(event.payload["data"]["n"])
    assert seen == [1, 2]
    assert source.closed


async def test_a_source_s_own_timeout_is_not_taken_for_the_token_s() -> None:
    async def timing_out() -> AsyncIterator[StreamEvent]:
        yield StreamEvent(None, {"data": {"n": 1}})
        raise TimeoutError

    identity = Identity({"sub": "u1"}, expires_at=time.time() + 60)
    events = until_expiry(request_with(True), identity, timing_out)
    with pytest.raises(TimeoutError):
        async for _ in events():
            pass
