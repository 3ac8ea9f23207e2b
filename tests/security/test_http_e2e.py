"""Browsers and error leaks against a real ``gateway serve`` (issue 10, gateway side).

A page that rebinds its name to 127.0.0.1 (DNS rebinding), a page of another origin,
a cross-site form (CSRF): none of them reaches ``createSession``. Errors tell a client
what went wrong, never the server's internals: no exception text, no absolute path,
no subgraph URL, no stack trace (unless ``gateway.dev_mode``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers.claude import fake_claude
from tests.helpers.processes import ROOT, GatewayProcess, StartGateway, free_port

CONFIG = Path(__file__).resolve().parent / "configs" / "http.yaml"
CREATE = (
    "mutation($dir: String!) "
    "{ createSession(input: {workingDirectory: $dir}) { id status } }"
)
SESSIONS = "{ sessions { id } }"
LOCAL_UI = "http://localhost:5173"
EVIL = "https://evil.example"

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bundled(start_gateway: StartGateway, tmp_path: Path) -> GatewayProcess:
    claude = fake_claude(tmp_path)
    root = tmp_path / "projects"
    (root / "work").mkdir(parents=True)
    return await start_gateway(
        CONFIG,
        env={
            "SECURITY_CLAUDE_CLI": str(claude.cli),
            "SECURITY_CLAUDE_DB": str(tmp_path / "claude.sqlite3"),
            "SECURITY_ROOT": str(root),
            "CLAUDE_CONFIG_DIR": str(claude.state_dir),
            "FAKE_CLAUDE_DELAY": "0",
        },
    )


async def post(
    http: aiohttp.ClientSession,
    gateway: GatewayProcess,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any], Any]:
    body = json.dumps({"query": query, "variables": variables or {}})
    async with http.post(
        gateway.url,
        data=body,
        headers={"Content-Type": content_type, **(headers or {})},
    ) as response:
        return response.status, await response.json(), response.headers


async def sessions(http: aiohttp.ClientSession, gateway: GatewayProcess) -> list[Any]:
    status, body, _ = await post(http, gateway, SESSIONS)
    assert status == 200, body
    return body["data"]["sessions"]  # type: ignore[no-any-return]


def workdir(gateway: GatewayProcess, tmp_path: Path) -> str:
    return str(tmp_path / "projects" / "work")


# -- DNS rebinding ---------------------------------------------------------------------


async def test_a_rebound_host_never_reaches_create_session(
    bundled: GatewayProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    variables = {"dir": workdir(bundled, tmp_path)}
    for host in (f"rebind.evil.example:{bundled.port}", "rebind.evil.example"):
        status, body, _ = await post(
            http, bundled, CREATE, variables, headers={"Host": host}
        )
        assert status == 421
        assert body["errors"][0]["extensions"]["code"] == "HOST_NOT_ALLOWED"
        assert "data" not in body
    assert await sessions(http, bundled) == []
    # The same request under a local name runs: the check refuses hosts, not requests.
    status, body, _ = await post(
        http, bundled, CREATE, variables, headers={"Host": f"localhost:{bundled.port}"}
    )
    assert status == 200 and "errors" not in body, body
    assert len(await sessions(http, bundled)) == 1


async def test_health_answers_local_names_only(
    bundled: GatewayProcess, http: aiohttp.ClientSession
) -> None:
    url = f"{bundled.base}/health"
    async with http.get(url, headers={"Host": "rebind.evil.example"}) as response:
        assert response.status == 421
    async with http.get(url, headers={"Host": f"[::1]:{bundled.port}"}) as response:
        assert response.status == 200


# -- Origin / CORS ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json", "Apollo-Require-Preflight": "true"},
    ],
)
async def test_a_foreign_origin_never_reaches_a_mutation(
    bundled: GatewayProcess,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    headers: dict[str, str],
) -> None:
    status, body, response_headers = await post(
        http,
        bundled,
        CREATE,
        {"dir": workdir(bundled, tmp_path)},
        headers={**headers, "Origin": EVIL},
        content_type=headers["Content-Type"],
    )
    assert status == 403
    assert body["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert "Access-Control-Allow-Origin" not in response_headers
    assert await sessions(http, bundled) == []


async def test_a_preflight_from_a_local_dev_server_is_answered_and_others_are_not(
    bundled: GatewayProcess, http: aiohttp.ClientSession
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with http.options(
        bundled.url, headers={**preflight, "Origin": LOCAL_UI}
    ) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == LOCAL_UI
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
        assert int(response.headers["Access-Control-Max-Age"]) > 0
    async with http.options(
        bundled.url, headers={**preflight, "Origin": EVIL}
    ) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_local_dev_server_gets_answers_it_can_read(
    bundled: GatewayProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    status, body, headers = await post(
        http,
        bundled,
        CREATE,
        {"dir": workdir(bundled, tmp_path)},
        headers={"Origin": LOCAL_UI},
    )
    assert status == 200 and "errors" not in body, body
    assert headers["Access-Control-Allow-Origin"] == LOCAL_UI


async def test_an_event_stream_for_an_allowed_origin_carries_the_cors_headers(
    bundled: GatewayProcess, http: aiohttp.ClientSession
) -> None:
    # As a browser EventSource sends it: a GET that cannot set other headers.
    async with http.get(
        bundled.url,
        params={"query": SESSIONS},
        headers={"Accept": "text/event-stream", "Origin": LOCAL_UI},
    ) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert response.headers["Access-Control-Allow-Origin"] == LOCAL_UI
        body = await response.text()
    assert body.startswith("event: next\n")
    assert body.endswith("event: complete\ndata: \n\n")


# -- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded"]
)
async def test_a_simple_request_cannot_mutate(
    bundled: GatewayProcess,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    content_type: str,
) -> None:
    # What a cross-site <form> or a no-cors fetch can send without an Origin check.
    status, body, _ = await post(
        http,
        bundled,
        CREATE,
        {"dir": workdir(bundled, tmp_path)},
        content_type=content_type,
    )
    assert status == 400
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PREFLIGHT_REQUIRED"
    assert "Apollo-Require-Preflight" in error["message"]
    assert await sessions(http, bundled) == []


async def test_a_get_query_needs_a_header_only_a_script_can_set(
    bundled: GatewayProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(bundled.url, params={"query": SESSIONS}) as response:
        assert response.status == 400
        body = await response.json()
        assert body["errors"][0]["extensions"]["code"] == "PREFLIGHT_REQUIRED"
    async with http.get(
        bundled.url,
        params={"query": SESSIONS},
        headers={"Apollo-Require-Preflight": "true"},
    ) as response:
        assert response.status == 200
        assert await response.json() == {"data": {"sessions": []}}


async def test_the_playground_page_still_loads(
    bundled: GatewayProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(bundled.url, headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        assert "graphiql" in (await response.text()).lower()


# -- gateway.roots ---------------------------------------------------------------------


def _git_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", str(path)],
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
    )


async def test_gateway_roots_confine_git_without_options_of_its_own(
    bundled: GatewayProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    inside = tmp_path / "projects" / "app"
    outside = tmp_path / "elsewhere"
    _git_init(inside)
    _git_init(outside)
    query = "query($p: String) { repository(path: $p) { currentBranch } }"
    status, body, _ = await post(http, bundled, query, {"p": str(inside)})
    assert status == 200 and "errors" not in body, body
    status, body, _ = await post(http, bundled, query, {"p": str(outside)})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN_PATH"]


async def test_gateway_roots_confine_claude_without_options_of_its_own(
    bundled: GatewayProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The gateway runs in the repository, outside ``tmp_path``: a session in
    ``projects/work`` is allowed only because ``gateway.roots`` names it."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    query = (
        "mutation($d: String!) { createSession(input: {workingDirectory: $d}) "
        "{ id workingDirectory } }"
    )
    inside = tmp_path / "projects" / "work"
    status, body, _ = await post(http, bundled, query, {"d": str(inside)})
    assert status == 200 and "errors" not in body, body
    assert body["data"]["createSession"]["workingDirectory"] == str(inside.resolve())
    status, body, _ = await post(http, bundled, query, {"d": str(outside)})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN_PATH"]
    assert str(tmp_path) not in json.dumps(body).replace(str(outside), "")


async def test_the_git_answers_of_the_issue_leak_nothing(
    bundled: GatewayProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``first: null`` and a 5 000-character path once answered with Python's
    exception text and the absolute root; now every error has a code and neither."""
    repo = tmp_path / "projects" / "app"
    _git_init(repo)
    query = """
      query($p: String, $long: String!) {
        repository(path: $p) {
          log(first: null) { message }
          file(path: $long) { path }
        }
      }
    """
    _, body, _ = await post(http, bundled, query, {"p": str(repo), "long": "a" * 5000})
    assert body["errors"], body
    for error in body["errors"]:
        assert error["extensions"]["code"], error
    _no_internals(json.dumps(body), str(tmp_path))


# -- errors safe to show ---------------------------------------------------------------


def _leak_config(tmp_path: Path, remote_port: int, dead_port: int) -> Path:
    config = tmp_path / "leaks.yaml"
    config.write_text(
        f"""
version: 1
subgraphs:
  - name: broken
    module: tests.security.broken:create_subgraph
  - name: remote
    routing_url: http://127.0.0.1:{remote_port}/graphql
    schema: {{sdl: "type Query {{ remote: String }}"}}
  - name: down
    routing_url: http://127.0.0.1:{dead_port}/graphql
    schema: {{sdl: "type Query {{ down: String }}"}}
gateway:
  dev_mode: ${{DEV_MODE:-false}}
"""
    )
    return config


async def _remote_with_internals(aiohttp_server: AiohttpServer) -> TestServer:
    """A subgraph (an Apollo Server in development mode, say) that sends stack
    traces and its own file paths in its errors."""

    async def graphql(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "data": {"remote": None},
                "errors": [
                    {
                        "message": "database unavailable",
                        "path": ["remote"],
                        "locations": [{"line": 1, "column": 3}],
                        "extensions": {
                            "code": "DATABASE_DOWN",
                            "stacktrace": ["Error: at /srv/remote/db.js:12:7"],
                            "exception": {"host": "db.internal:5432"},
                            "retryAfter": 5,
                        },
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    return await aiohttp_server(app)


@pytest.fixture
async def leaky(
    start_gateway: StartGateway,
    aiohttp_server: AiohttpServer,
    tmp_path: Path,
) -> Callable[..., Awaitable[tuple[GatewayProcess, int]]]:
    remote = await _remote_with_internals(aiohttp_server)

    async def start(dev_mode: bool = False) -> tuple[GatewayProcess, int]:
        dead = free_port()
        config = _leak_config(tmp_path, remote.port or 0, dead)
        env = {"DEV_MODE": "true" if dev_mode else "false"}
        return await start_gateway(config, env=env), dead

    return start


def _no_internals(text: str, *more: str) -> None:
    for secret in (str(ROOT), "/srv/", "NoneType", "Errno", "stacktrace", *more):
        assert secret not in text, (secret, text)


async def test_every_error_has_a_code_and_none_shows_internals(
    leaky: Callable[..., Awaitable[tuple[GatewayProcess, int]]],
    http: aiohttp.ClientSession,
) -> None:
    gateway, dead = await leaky()
    long_path = "a" * 5000
    status, body, _ = await post(
        http,
        gateway,
        "query($p: String!) { crash readFile(path: $p) refuse remote down }",
        {"p": long_path},
    )
    assert status == 200
    assert body["data"] == {
        "crash": None,
        "readFile": None,
        "refuse": None,
        "remote": None,
        "down": None,
    }
    errors = {tuple(e["path"]): e for e in body["errors"]}
    assert all("code" in e["extensions"] for e in body["errors"]), body
    _no_internals(json.dumps(body), f"127.0.0.1:{dead}", str(dead), "Cannot connect")

    # A bug and an OS error: masked, with the id that finds them in the log.
    for path in (("crash",), ("readFile",)):
        error = errors[path]
        assert error["message"] == "internal server error"
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        request_id = error["extensions"]["requestId"]
        log = [line for line in gateway.output().splitlines() if request_id in line]
        assert log, gateway.output()
    assert "NoneType" in gateway.output() and "File name too long" in gateway.output()

    # Raised on purpose: its message and code, not its internals.
    assert errors[("refuse",)] == {
        "message": "refused on purpose",
        "path": ["refuse"],
        "extensions": {"code": "REFUSED", "serviceName": "broken"},
    }
    # A remote subgraph's error: message, path, code; no stack trace, no locations.
    assert errors[("remote",)] == {
        "message": "database unavailable",
        "path": ["remote"],
        "extensions": {"code": "DATABASE_DOWN", "serviceName": "remote"},
    }
    # A transport failure names the subgraph, not its URL.
    down = errors[("down",)]
    assert down["extensions"]["code"] == "SUBGRAPH_UNREACHABLE"
    assert "'down'" in down["message"]


async def test_dev_mode_shows_the_details_again(
    leaky: Callable[..., Awaitable[tuple[GatewayProcess, int]]],
    http: aiohttp.ClientSession,
) -> None:
    gateway, _ = await leaky(dev_mode=True)
    _, body, _ = await post(http, gateway, "{ crash refuse remote }")
    errors = {tuple(e["path"]): e for e in body["errors"]}
    assert "NoneType" in errors[("crash",)]["message"]
    assert errors[("crash",)]["extensions"]["exception"]["type"] == "TypeError"
    assert errors[("remote",)]["extensions"]["stacktrace"] == [
        "Error: at /srv/remote/db.js:12:7"
    ]
    assert errors[("refuse",)]["extensions"]["exception"] == {"cwd": str(ROOT)}
