"""The github subgraph's options: supergraph.yaml first, then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "GitHubOptions"]

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_TIMEOUT = 10.0
_KNOWN = frozenset({"api_url", "token", "timeout"})


@dataclass(frozen=True, slots=True)
class GitHubOptions:
    api_url: str = DEFAULT_API_URL
    """Without a trailing slash."""
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    """Seconds for one whole request."""

    @classmethod
    def from_mapping(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> GitHubOptions:
        """``api_url`` / ``token`` default to ``GITHUB_API_URL`` / ``GITHUB_TOKEN``;
        ``ConfigError`` names a bad option."""
        env = os.environ if environ is None else environ
        unknown = sorted(set(options) - _KNOWN)
        if unknown:
            raise ConfigError(f"unknown github option(s): {', '.join(unknown)}")
        api_url = options.get("api_url") or env.get("GITHUB_API_URL") or DEFAULT_API_URL
        if not isinstance(api_url, str):
            raise ConfigError("github option 'api_url' must be a URL")
        parts = urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigError(f"github api_url {api_url!r} is not an http(s) URL")
        token = options.get("token") or env.get("GITHUB_TOKEN") or None
        if token is not None and not isinstance(token, str):
            raise ConfigError("github option 'token' must be a string")
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ConfigError("github option 'timeout' must be a number of seconds")
        if timeout <= 0:
            raise ConfigError("github option 'timeout' must be positive")
        return cls(
            api_url=api_url.rstrip("/"),
            token=token.strip() if token else None,
            timeout=float(timeout),
        )
