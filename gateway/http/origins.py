"""Which browser origins may talk to the server: the one check every origin rule uses.

Browsers do not apply the same-origin policy to WebSockets (any page can open one to
``ws://localhost``; CVE-2025-52882 was this hole), so WebSocket upgrades are checked
here (the gateway's HTTP edge applies the same ``gateway.cors.allow_origins`` to every
request once its security middleware is installed; the standalone subgraph servers
rely on this check alone). Without an allow-list, only local pages are allowed.
See https://fetch.spec.whatwg.org/#origin-header
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["LOCAL_HOSTS", "origin_allowed"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
"""Hosts whose pages are allowed when no allow-list is configured (any port)."""


def _hostname(origin: str) -> str | None:
    """The host of an http(s) origin; None for anything else."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower()


def origin_allowed(
    origin: str | None, allow_origins: Sequence[str] | None = None
) -> bool:
    """True when a request with this ``Origin`` header may go on.

    No ``Origin`` (not a browser: curl, a server-side client) is allowed. With
    ``allow_origins`` None, local pages (``localhost``, ``127.0.0.1``, ``[::1]``,
    any port, http or https) are allowed. Otherwise ``allow_origins`` decides:
    exact origins (case-insensitive, no trailing slash), ``*`` for any, or patterns
    such as ``https://*.example.com``. ``null`` (a sandboxed or file page) is
    allowed only when listed. The request's own ``Host`` is not trusted to mean
    "same origin": a rebound DNS name would pass that test.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allow_origins is None:
        hostname = _hostname(origin)
        return hostname is not None and hostname in LOCAL_HOSTS
    for allowed in allow_origins:
        allowed = allowed.strip().rstrip("/").lower()
        if allowed in ("*", origin):
            return True
        if "*" in allowed and _pattern(allowed).fullmatch(origin):
            return True
    return False


def _pattern(entry: str) -> re.Pattern[str]:
    """``http://localhost:*``: ``*`` stands for host or port characters only (as in
    ``gateway.cors``), so ``https://*.example.com`` cannot match
    ``https://evil.test/.example.com``."""
    return re.compile("[a-z0-9.-]*".join(re.escape(part) for part in entry.split("*")))
