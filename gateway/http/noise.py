"""Malformed-request noise from the HTTP servers' loggers, once a minute per kind.

aiohttp logs every request it cannot parse (a bad request line, a bad chunk size, an
unknown ``Content-Encoding``, a header too long) at ERROR with a traceback. Those are
the client's mistakes, not the server's: ``MalformedRequestLog`` turns the first of
each kind (the exception's class) in a minute into one WARNING line without a
traceback, drops the rest of that minute, and says how many it dropped with the next
one it lets through. Anything else (a real server bug) passes untouched. The
gateway's front (``gateway.http.front``) logs the requests llhttp refuses the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httptools
from aiohttp import http_exceptions, web

__all__ = ["SERVER_LOGGER", "MalformedRequestLog", "install"]

SERVER_LOGGER = "aiohttp.server"

_CLIENT_FAULTS: tuple[type[BaseException], ...] = (
    http_exceptions.HttpProcessingError,
    web.RequestPayloadError,
    httptools.HttpParserError,  # the gateway's front (gateway.http.front)
)


class MalformedRequestLog(logging.Filter):
    """A filter for the ``aiohttp.server`` logger (see the module docstring)."""

    def __init__(
        self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__("")
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}
        self.passed = 0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(exc, _CLIENT_FAULTS):
            return True
        kind = type(exc).__name__
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._dropped[kind] = self._dropped.get(kind, 0) + 1
            self.dropped += 1
            return False
        self._last[kind] = now
        dropped = self._dropped.pop(kind, 0)
        reason = getattr(exc, "message", None) or str(exc)
        reason = " ".join(str(reason).split())[:200]
        record.msg = "malformed request (%s) from %s: %s%s"
        record.args = (
            kind,
            _remote(record),
            reason,
            f" ({dropped} more of this kind in the last minute not logged)"
            if dropped
            else "",
        )
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        self.passed += 1
        return True


def _remote(record: logging.LogRecord) -> str:
    args = record.args
    if isinstance(args, tuple) and args:
        return str(args[0])
    return "a client"


def install(logger_name: str = SERVER_LOGGER) -> MalformedRequestLog:
    """Attach one ``MalformedRequestLog`` to aiohttp's server logger (once)."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, MalformedRequestLog):
            return existing
    noise = MalformedRequestLog()
    logger.addFilter(noise)
    return noise
