"""JWKS key sets: the public keys tokens are checked with, from URLs and files.

Each URL is fetched at start and then every ``refresh_interval``; a file is read at
start and again at each refresh. A source that cannot be read (down, a timeout, not
a JWKS) keeps its last good keys, and the failure is logged. A token whose ``kid``
no source knows triggers a refresh of every source, at most once per
``min_refresh_interval`` (a key rotated in at the identity provider is picked up at
once; a flood of made-up kids costs one fetch per interval).

See https://www.rfc-editor.org/rfc/rfc7517 (JSON Web Key)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from gateway.config.auth import JwksConfig

__all__ = ["JwksSource", "KeySets"]

logger = logging.getLogger("gateway.authentication.jwks")

_MAX_JWKS_BYTES = 1024 * 1024


class _SourceError(Exception):
    """A JWKS source could not be read (the message says why)."""


@dataclass(slots=True)
class JwksSource:
    """One configured source and the keys last read from it."""

    config: JwksConfig
    keys: tuple[PyJWK, ...] = ()
    loaded: bool = False
    """At least one read succeeded."""
    failures: int = 0
    """Reads that failed since the last good one."""
    kids: frozenset[str] = field(default_factory=frozenset)

    def set_keys(self, keys: tuple[PyJWK, ...]) -> None:
        self.keys = keys
        self.kids = frozenset(
            str(k.key_id) for k in keys if getattr(k, "key_id", None) is not None
        )
        self.loaded = True
        self.failures = 0


def parse_jwks(body: bytes, name: str) -> tuple[PyJWK, ...]:
    """The usable keys of a JWKS document; keys of unknown types are skipped (and
    logged), a document that is not a JWKS raises ``_SourceError``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _SourceError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _SourceError('not a JWKS (expected an object with a "keys" list)')
    keys: list[PyJWK] = []
    for index, item in enumerate(document["keys"]):
        if not isinstance(item, dict):
            continue
        if item.get("use") not in (None, "sig"):
            continue  # an encryption key
        try:
            keys.append(PyJWK(item))
        except (PyJWTError, ValueError, TypeError, KeyError) as exc:
            logger.warning(
                "JWKS %s: key %d (kid %r) skipped: %s",
                name,
                index,
                item.get("kid"),
                exc,
            )
    return tuple(keys)


class KeySets:
    """The keys of every configured JWKS source, kept fresh."""

    def __init__(
        self,
        sources: Sequence[JwksConfig],
        *,
        min_refresh_interval: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.sources = [JwksSource(config) for config in sources]
        self.min_refresh_interval = min_refresh_interval
        self._session = session
        self._tasks: list[asyncio.Task[None]] = []
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = float("-inf")
        self.refresh_count = 0
        """Refreshes of every source so far (the start counts as one)."""

    # -- lifetime ------------------------------------------------------------------

    async def start(self) -> None:
        """Read every source once, then keep refreshing each in the background."""
        await self.refresh()
        for source in self.sources:
            self._tasks.append(
                asyncio.create_task(
                    self._poll(source), name=f"jwks refresh {source.config.name}"
                )
            )

    async def close(self) -> None:
        tasks = [*self._tasks]
        if self._refreshing is not None:
            tasks.append(self._refreshing)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _poll(self, source: JwksSource) -> None:
        while True:
            await asyncio.sleep(source.config.refresh_interval)
            await self._read(source)

    # -- reading -------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read every source now (concurrent callers share one refresh)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_all())
        await asyncio.shield(self._refreshing)

    async def _refresh_all(self) -> None:
        self._last_refresh = time.monotonic()
        self.refresh_count += 1
        await asyncio.gather(*(self._read(source) for source in self.sources))

    async def _read(self, source: JwksSource) -> None:
        name = source.config.name
        try:
            body = await self._fetch(source.config)
            keys = parse_jwks(body, name)
        except _SourceError as exc:
            source.failures += 1
            if source.loaded:
                logger.warning(
                    "JWKS %s cannot be read (%s): keeping its %d key(s) from the "
                    "last good read",
                    name,
                    exc,
                    len(source.keys),
                )
            else:
                logger.error(
                    "JWKS %s cannot be read (%s): it has no keys yet", name, exc
                )
            return
        kids = sorted(str(k.key_id) for k in keys)
        if not source.loaded or frozenset(kids) != source.kids:
            logger.info("JWKS %s: %d key(s): %s", name, len(keys), ", ".join(kids))
        source.set_keys(keys)

    async def _fetch(self, config: JwksConfig) -> bytes:
        if config.file is not None:
            try:
                return await asyncio.to_thread(config.file.read_bytes)
            except OSError as exc:
                raise _SourceError(exc.strerror or str(exc)) from None
        assert config.url is not None
        session = self._session
        owned = session is None
        if session is None:
            session = aiohttp.ClientSession()
        try:
            async with session.get(
                config.url,
                timeout=aiohttp.ClientTimeout(total=config.timeout),
                headers={"Accept": "application/json, application/jwk-set+json"},
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise _SourceError(f"HTTP status {response.status}")
                body = await response.content.read(_MAX_JWKS_BYTES + 1)
                if len(body) > _MAX_JWKS_BYTES:
                    raise _SourceError(f"over {_MAX_JWKS_BYTES} bytes")
                return body
        except TimeoutError:
            raise _SourceError(f"no answer within {config.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise _SourceError(str(exc) or type(exc).__name__) from None
        finally:
            if owned:
                await session.close()

    # -- lookup --------------------------------------------------------------------

    def _matching(self, kid: str | None) -> list[PyJWK]:
        found: list[PyJWK] = []
        for source in self.sources:
            for key in source.keys:
                if kid is None or key.key_id == kid:
                    found.append(key)
        return found

    async def keys_for(self, kid: str | None) -> list[PyJWK]:
        """The keys a token with this ``kid`` may be signed with (every key when it
        names none). An unknown kid refreshes the sources first, at most once per
        ``min_refresh_interval``."""
        found = self._matching(kid)
        if found or kid is None:
            return found
        if time.monotonic() - self._last_refresh >= self.min_refresh_interval:
            logger.info("unknown key id %r: refreshing the JWKS sources", kid)
            await self.refresh()
            found = self._matching(kid)
        return found

    @property
    def key_count(self) -> int:
        return sum(len(source.keys) for source in self.sources)
