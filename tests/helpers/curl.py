"""curl as the client: GraphQL over HTTP and SSE requests, and reading their answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CURL_ENV",
    "CurlResult",
    "curl_graphql",
    "curl_sse",
    "finish",
    "sse_events",
    "start_curl",
]


CURL_ENV = {"PATH": "/usr/bin:/bin:/usr/local/bin"}


@dataclass(frozen=True, slots=True)
class CurlResult:
    status: int
    content_type: str
    body: Any

    @property
    def data(self) -> Any:
        assert isinstance(self.body, dict), self.body
        return self.body.get("data")


async def _curl(*argv: str, stdin: bytes | None, timeout: float) -> str:
    process = await asyncio.create_subprocess_exec(
        "curl",
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=CURL_ENV,
    )
    return await finish(process, timeout, stdin)


async def curl_graphql(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    method: str = "POST",
    timeout: float = 30,
) -> CurlResult:
    """One GraphQL-over-HTTP request with curl; the body parsed as JSON."""
    marker = "\n--curl-write-out--\n"
    write_out = ["-w", marker + "%{http_code} %{content_type}"]
    if method == "GET":
        # A GET shows it comes from a script, not a foreign page (CSRF prevention).
        params = ["-H", "Apollo-Require-Preflight: true"]
        params += ["--data-urlencode", f"query={query}"]
        if variables is not None:
            params += ["--data-urlencode", f"variables={json.dumps(variables)}"]
        out = await _curl(
            "-s", "-G", url, *params, *write_out, stdin=None, timeout=timeout
        )
    else:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        out = await _curl(
            "-s",
            url,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            *write_out,
            stdin=json.dumps(payload).encode(),
            timeout=timeout,
        )
    body, _, trailer = out.rpartition(marker)
    status, _, content_type = trailer.partition(" ")
    return CurlResult(int(status), content_type, json.loads(body))


def curl_sse(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """curl arguments for a subscription over SSE (POST, ``curl -N``)."""
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    argv = [
        "-s",
        "-N",
        url,
        "-H",
        "Accept: text/event-stream",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(payload),
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    return argv


async def start_curl(argv: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "curl",
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=CURL_ENV,
    )


async def finish(
    process: asyncio.subprocess.Process, timeout: float = 30, stdin: bytes | None = None
) -> str:
    """The whole output of a curl (fed ``stdin``); killed if it outlives ``timeout``."""
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    return out.decode()


def sse_events(text: str) -> list[dict[str, str]]:
    """An event stream split into events (``event``, ``id``, ``data``); comments
    (heartbeats) are left out. See https://html.spec.whatwg.org/multipage/
    server-sent-events.html#event-stream-interpretation
    """
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[name] = current[name] + "\n" + value if name in current else value
    if current:
        events.append(current)
    return events
