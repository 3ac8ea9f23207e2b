"""``GitHubClient``: GitHub's REST API over one shared aiohttp session.

Every foreign failure becomes a ``GitHubError`` here, in one place: HTTP statuses
through ``error_for_response``, aiohttp and timeout errors as
``UPSTREAM_UNAVAILABLE``.

See https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from subgraphs.github.config import GitHubOptions
from subgraphs.github.errors import (
    BadUserInputError,
    ForbiddenError,
    GitHubError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from subgraphs.github.pagination import (
    Position,
    decode_cursor,
    encode_cursor,
    next_link,
    page_number,
    page_size,
)

__all__ = [
    "API_VERSION",
    "USER_AGENT",
    "GitHubClient",
    "error_for_response",
    "repo_path",
]

logger = logging.getLogger("subgraphs.github.client")

API_VERSION = "2022-11-28"
USER_AGENT = "gateway-github-subgraph/0.1"
_MAX_PAGES_PER_LIST = 10
"""Pages one list field may read (filters such as "issues without pull requests"
can skip many items)."""
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def repo_path(owner: str, name: str, *rest: str | int) -> str:
    """``/repos/{owner}/{name}/...``; owner and name must be GitHub names."""
    for value, what in ((owner, "owner"), (name, "name")):
        if not _SEGMENT.match(value) or value in {".", ".."}:
            raise BadUserInputError(f"{what} {value!r} is not a GitHub name")
    tail = "".join(f"/{quote(str(part), safe='')}" for part in rest)
    return f"/repos/{owner}/{name}{tail}"


def _reset_time(epoch: str | None) -> str | None:
    try:
        moment = datetime.fromtimestamp(int(epoch or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat().replace("+00:00", "Z")


def error_for_response(
    status: int, headers: Mapping[str, str], body: Any
) -> GitHubError:
    """The error a non-2xx answer means.

    Rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
    """
    message = body.get("message") if isinstance(body, dict) else None
    detail = f": {message}" if isinstance(message, str) and message else ""
    remaining = headers.get("X-RateLimit-Remaining")
    retry_after = headers.get("Retry-After")
    if status in (403, 429) and (remaining == "0" or retry_after or status == 429):
        extensions: dict[str, Any] = {}
        reset_at = _reset_time(headers.get("X-RateLimit-Reset"))
        if retry_after and retry_after.isdigit():
            extensions["retryAfter"] = int(retry_after)
            if reset_at is None:
                reset_at = _reset_time(str(int(time.time()) + int(retry_after)))
        if reset_at is not None:
            extensions["resetAt"] = reset_at
        when = f"; it resets at {reset_at}" if reset_at else ""
        return RateLimitedError(
            f"GitHub rate limit exceeded{when}{detail}", status=status, **extensions
        )
    if status == 401:
        return UnauthenticatedError(
            f"GitHub refused the credentials (set GITHUB_TOKEN){detail}", status=status
        )
    if status == 403:
        return ForbiddenError(f"GitHub denied access{detail}", status=status)
    if status in (404, 410):
        return NotFoundError(f"not found on GitHub{detail}", status=status)
    if status == 422:
        errors = body.get("errors") if isinstance(body, dict) else None
        extra = {"errors": errors} if isinstance(errors, list) else {}
        return BadUserInputError(
            f"GitHub rejected the input{detail}", status=status, **extra
        )
    if status >= 500:
        return UpstreamUnavailableError(
            f"GitHub answered {status}{detail}", status=status
        )
    return UpstreamError(f"GitHub answered {status}{detail}", status=status)


class GitHubClient:
    """Requests to ``options.api_url``; ``lifespan()`` owns the ClientSession."""

    def __init__(self, options: GitHubOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        origin = urlsplit(options.api_url)
        self._origin = (origin.scheme, origin.netloc)
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        if options.token:
            self._headers["Authorization"] = f"Bearer {options.token}"

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            raise_for_status=False,
        )
        self._session = session
        try:
            yield
        finally:
            self._session = None
            await session.close()

    def _reason(self, exc: BaseException) -> str:
        """What went wrong, in words that name no host, port or address (those
        are in the server log)."""
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            return f"no answer within {self.options.timeout:g}s"
        if isinstance(exc, aiohttp.ClientConnectorError):
            return "cannot connect"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the connection was closed"
        if isinstance(exc, aiohttp.ClientPayloadError):
            return "the answer was cut short"
        return "the request failed"

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.options.api_url}{path}{query}"

    async def request(
        self, method: str, url: str, body: Any = None
    ) -> tuple[Any, Mapping[str, str]]:
        """One request; the decoded JSON body and the headers of a 2xx answer."""
        session = self._session
        if session is None:
            raise UpstreamUnavailableError("the github subgraph is not started")
        if (urlsplit(url).scheme, urlsplit(url).netloc) != self._origin:
            # Never send the token elsewhere, even when a Link header says so.
            logger.warning("not following a link off the API: %s", url)
            raise UpstreamError("GitHub's answer linked to another host: not followed")
        try:
            async with session.request(method, url, json=body) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("GitHub %s %s failed: %r", method, url, exc)
            raise UpstreamUnavailableError(
                f"GitHub is unreachable: {self._reason(exc)}"
            ) from exc
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
            if 200 <= status < 300:
                raise UpstreamError(
                    f"GitHub answered {status} with a body that is not JSON",
                    status=status,
                ) from None
        if not 200 <= status < 300:
            raise error_for_response(status, headers, decoded)
        return decoded, headers

    async def get(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> Any:
        body, _ = await self.request("GET", self.url(path, params))
        return body

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        result, _ = await self.request("POST", self.url(path), dict(body))
        return result

    async def list(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        first: int,
        after: str | None,
        keep: Callable[[Any], bool] = lambda _item: True,
    ) -> list[tuple[Any, str]]:
        """Up to ``first`` items after the cursor ``after``, each with its own
        cursor, following ``rel="next"`` links from page to page."""
        first = page_size(first)
        if first == 0:
            return []
        if after is None:
            position = Position(page=1, index=-1, per_page=max(first, 30))
        else:
            position = decode_cursor(after)
        per_page = position.per_page
        url: str | None = self.url(
            path, {**params, "per_page": per_page, "page": position.page}
        )
        skip_through = position.index
        expected_page = position.page
        found: list[tuple[Any, str]] = []
        for _ in range(_MAX_PAGES_PER_LIST):
            if url is None or len(found) >= first:
                break
            items, headers = await self.request("GET", url)
            if not isinstance(items, list):
                raise UpstreamError("GitHub answered a list request with no list")
            page = page_number(url, expected_page)
            for index, item in enumerate(items):
                if index <= skip_through or not keep(item):
                    continue
                found.append((item, encode_cursor(Position(page, index, per_page))))
                if len(found) >= first:
                    break
            skip_through = -1
            url = next_link(headers.get("Link"))
            expected_page = page + 1
        return found
