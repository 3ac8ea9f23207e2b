"""Authentication at the edge: the request's token read once, streams ended at expiry.

``install_authentication(app, config)`` sets up the JWKS key sets (in
``cleanup_ctx``, with the gateway's shared ``ClientSession``) and the authenticator;
``identify(request)`` returns the request's ``Identity`` (``None`` without a token)
or raises ``UnauthenticatedError``; ``until_expiry`` ends an event stream with an
``UNAUTHENTICATED`` error when its token expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from gateway.authentication import Identity, JwtAuthenticator, KeySets
from gateway.config import Config
from gateway.errors import ConfigError, UnauthenticatedError
from gateway.events import StreamEvent

__all__ = [
    "AUTHENTICATION",
    "EdgeAuthentication",
    "identify",
    "install_authentication",
    "until_expiry",
]

logger = logging.getLogger("gateway.http.auth")


@dataclass(slots=True)
class EdgeAuthentication:
    """What the edge needs to authenticate requests."""

    authenticator: JwtAuthenticator | None
    require: bool = False
    close_expired_streams: bool = True

    async def identify(self, headers: Mapping[str, str]) -> Identity | None:
        identity = None
        if self.authenticator is not None:
            identity = await self.authenticator.authenticate(headers)
        if identity is None and self.require:
            raise UnauthenticatedError(
                "this gateway requires a token "
                "(gateway.authorization.require_authentication)"
            )
        return identity

    async def identify_payload(self, payload: object) -> Identity | None:
        """The identity in a WebSocket ``connection_init`` payload: the token under
        the header's name, in any case (``{"Authorization": "Bearer ..."}``), as
        Apollo's and Cosmo's clients send it."""
        value = None
        if isinstance(payload, Mapping) and self.authenticator is not None:
            name = self.authenticator.config.header_name.lower()
            for key, item in payload.items():
                if isinstance(key, str) and key.lower() == name:
                    if not isinstance(item, str):
                        raise UnauthenticatedError(f"{key} must be a string")
                    value = item
        identity = None
        if value is not None and self.authenticator is not None:
            identity = await self.authenticator.verify(
                self.authenticator.token_in(value)
            )
        if identity is None and self.require:
            raise UnauthenticatedError(
                "this gateway requires a token "
                "(gateway.authorization.require_authentication)"
            )
        return identity


AUTHENTICATION = web.AppKey("authentication", EdgeAuthentication)


def install_authentication(
    app: web.Application,
    config: Config,
    session: Callable[[], aiohttp.ClientSession | None],
) -> None:
    """Authenticate the requests of ``app`` as ``config`` says; ``session`` gives
    the shared ``ClientSession`` once it exists (JWKS URLs are fetched with it)."""
    jwt = config.gateway.authentication.jwt
    authorization = config.gateway.authorization
    if jwt is None and authorization.require_authentication:
        raise ConfigError(
            "require_authentication needs a way to check tokens: configure "
            "gateway.authentication.jwt",
            file=str(config.path) if config.path else None,
            key_path="gateway.authorization.require_authentication",
        )
    edge = EdgeAuthentication(
        None,
        require=authorization.require_authentication,
        close_expired_streams=authorization.close_expired_streams,
    )
    app[AUTHENTICATION] = edge
    if jwt is None:
        return

    async def key_sets(app: web.Application) -> AsyncIterator[None]:
        keys = KeySets(
            jwt.jwks,
            min_refresh_interval=jwt.min_refresh_interval,
            session=session(),
        )
        await keys.start()
        edge.authenticator = JwtAuthenticator(jwt, keys)
        logger.info(
            "JWT authentication: %d key(s) from %d JWKS source(s)",
            keys.key_count,
            len(jwt.jwks),
        )
        try:
            yield
        finally:
            edge.authenticator = None
            await keys.close()

    app.cleanup_ctx.append(key_sets)


async def identify(request: web.Request) -> Identity | None:
    """The request's verified token; raises ``UnauthenticatedError``."""
    edge = request.app.get(AUTHENTICATION)
    if edge is None:
        return None
    return await edge.identify(request.headers)


def until_expiry(
    request: web.Request,
    identity: Identity | None,
    events: Callable[[], AsyncIterator[StreamEvent]],
) -> Callable[[], AsyncIterator[StreamEvent]]:
    """``events``, ended by an ``UNAUTHENTICATED`` error when the token expires
    (unless ``gateway.authorization.close_expired_streams`` is false)."""
    edge = request.app.get(AUTHENTICATION)
    if (
        identity is None
        or identity.expires_at is None
        or edge is None
        or not edge.close_expired_streams
    ):
        return events
    # The token was accepted within the clock skew: the stream ends past it too.
    skew = edge.authenticator.config.clock_skew if edge.authenticator else 0.0
    expires_at = identity.expires_at + skew

    async def expiring() -> AsyncIterator[StreamEvent]:
        source = events()
        try:
            while True:
                remaining = expires_at - time.time()
                if remaining <= 0:
                    break
                # The token's timer says whether it fired: a loop timer may fire
                # a moment before the wall clock reaches ``expires_at``.
                timer = asyncio.timeout(remaining)
                try:
                    async with timer:
                        event = await anext(source)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if not timer.expired():
                        raise  # the source's own timeout, not the token's
                    break
                yield event
            raise UnauthenticatedError("the token has expired: the stream ends")
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    return expiring
