"""Remote URLs: ``github_repository(url)`` (the GitHub ``owner``/``name`` of a
remote, if any) and ``without_credentials(url)`` (what a client may see of it).

Accepted forms: ``https://github.com/o/n(.git)``, ``git@github.com:o/n(.git)``,
``ssh://git@github.com(:port)/o/n(.git)`` and ``git://github.com/o/n(.git)``. Other
hosts (GitHub Enterprise, GitLab...) give ``None``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from subgraphs.git.models import GitHubRepositoryRef

__all__ = ["github_repository", "without_credentials"]

_HOSTS = frozenset({"github.com", "www.github.com"})
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
# GitHub's own rules: owners are alphanumerics and hyphens; names add "." and "_".
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _from_path(path: str) -> GitHubRepositoryRef | None:
    parts = [part for part in path.strip("/").split("/") if part]
    if len(parts) != 2:
        return None
    owner, name = parts
    if name.endswith(".git"):
        name = name[: -len(".git")]
    if not _OWNER.match(owner) or not _NAME.match(name) or name in {".", ".."}:
        return None
    return GitHubRepositoryRef(owner=owner, name=name)


def without_credentials(url: str) -> str:
    """``url`` without a password or token: the whole user part of an http(s) or
    ftp(s) URL (tokens are often passed as the user name), the password of any
    other (``ssh://git@host`` keeps its user name)."""
    if "://" not in url:
        return url  # scp-like ``user@host:path``: a user name, never a password
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme.lower() in {"http", "https", "ftp", "ftps"}:
        netloc = host
    else:
        netloc = f"{userinfo.partition(':')[0]}@{host}"
    return parts._replace(netloc=netloc).geturl()


def github_repository(url: str) -> GitHubRepositoryRef | None:
    """The GitHub repository a remote URL points at, or ``None``."""
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http", "ssh", "git", "git+ssh"}:
            return None
        if (parts.hostname or "").lower() not in _HOSTS:
            return None
        return _from_path(parts.path)
    match = _SCP_LIKE.match(url)
    if match is None or match["host"].lower() not in _HOSTS:
        return None
    return _from_path(match["path"])
