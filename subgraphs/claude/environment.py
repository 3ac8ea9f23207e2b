"""The Claude CLI's environment: what it needs, never the gateway's secrets.

The CLI gets ``PATH``, ``HOME``, the user and locale variables, proxies and CA
bundles, its own ``ANTHROPIC_*`` / ``CLAUDE_*`` variables, and nothing else from the
gateway's environment unless the ``env`` option names it. A ``GITHUB_TOKEN`` or a
cloud credential the gateway holds never reaches the CLI (or the shell commands it
runs) by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["PASSED_NAMES", "PASSED_PREFIXES", "cli_environment"]

PASSED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "TMPDIR",
        "TZ",
        "LANG",
        "LANGUAGE",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
    }
)
"""Variables passed as they are."""

PASSED_PREFIXES = ("LC_", "ANTHROPIC_", "CLAUDE_")
"""Variable families passed as they are (locale, the CLI's own settings)."""


def cli_environment(
    environ: Mapping[str, str],
    allow: Iterable[str] = (),
    values: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The CLI's whole environment: the passed variables of ``environ``, the ones
    ``allow`` names, then ``values`` (set as given)."""
    allowed = set(allow)
    env = {
        name: value
        for name, value in environ.items()
        if name in PASSED_NAMES or name in allowed or name.startswith(PASSED_PREFIXES)
    }
    env.update(values or {})
    return env
