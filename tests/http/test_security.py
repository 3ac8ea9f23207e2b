"""The browser guards (gateway.http.security) on a tiny app: Host, Origin, CSRF."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.config.model import CorsConfig
from gateway.http.security import (
    HostCheck,
    OriginPolicy,
    SecurityPolicy,
    host_name,
    install_security,
)

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


RAN = web.AppKey("ran", list[str])
"""The methods of the requests the GraphQL handler ran."""


async def _graphql(request: web.Request) -> web.StreamResponse:
    request.app[RAN].append(request.method)
    if "text/event-stream" in request.headers.get("Accept", ""):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: complete\ndata: \n\n")
        await response.write_eof()
        return response
    return web.json_response({"data": {"ok": True}})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _app(policy: SecurityPolicy) -> web.Application:
    app = web.Application()
    app[RAN] = []
    install_security(app, policy)
    app.router.add_route("*", "/graphql", _graphql)
    app.router.add_get("/health", _health)
    return app


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    return await aiohttp_client(_app(SecurityPolicy.build(listen_host="127.0.0.1")))


def _ran(client: Client) -> list[str]:
    return client.server.app[RAN]


JSON = {"Content-Type": "application/json"}


# -- Host ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:4000", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("[::1]:4000", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("evil.example:80", "evil.example"),
    ],
)
def test_host_name_drops_port_case_and_trailing_dot(header: str, name: str) -> None:
    assert host_name(header) == name


def test_host_check_allows_loopback_names_the_listen_address_and_configured_ones() -> (
    None
):
    check = HostCheck.build("192.168.1.5", ["dev.example.test", "*.corp.test"])
    for host in ("localhost:1", "127.0.0.1:2", "[::1]:3", "192.168.1.5:4000"):
        assert check.allows(host), host
    assert check.allows("dev.example.test:4000")
    assert check.allows("a.b.corp.test")
    for host in ("rebind.evil.example", "corp.test.evil", "example.test", "0.0.0.0"):
        assert not check.allows(host), host


def test_a_wildcard_listen_address_adds_no_name() -> None:
    check = HostCheck.build("0.0.0.0", [])
    assert not check.allows("0.0.0.0:4000")
    assert not check.allows("myhost:4000")
    assert HostCheck.build("::", ["*"]).allows("anything")


async def test_a_foreign_host_is_421_before_any_handler(client: Client) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "mutation { x }"},
        headers={"Host": "rebind.evil.example:4000"},
    )
    assert response.status == 421
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "HOST_NOT_ALLOWED"
    assert "rebind.evil.example" in body["errors"][0]["message"]
    assert _ran(client) == []


async def test_the_host_check_guards_health_too(client: Client) -> None:
    response = await client.get("/health", headers={"Host": "evil.example"})
    assert response.status == 421
    assert (await client.get("/health", headers={"Host": "localhost:9"})).status == 200


# -- Origin / CORS ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"],
)
def test_the_default_cors_allows_local_dev_servers(origin: str) -> None:
    assert OriginPolicy.build(CorsConfig()).allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example:80",
        "http://127.0.0.1.nip.io:3000",
        "null",
        "https://localhost:5173",
    ],
)
def test_the_default_cors_refuses_everything_else(origin: str) -> None:
    assert not OriginPolicy.build(CorsConfig()).allows(origin)


def test_a_wildcard_matches_host_characters_only() -> None:
    policy = OriginPolicy.build(CorsConfig(allow_origins=("https://*.example.test",)))
    assert policy.allows("https://app.example.test")
    assert not policy.allows("https://evil.test/.example.test")
    assert not policy.allows("https://evil.test?.example.test")
    assert OriginPolicy.build(CorsConfig(allow_origins=("*",))).allows("https://x.y")


async def test_a_mutation_from_a_foreign_origin_never_runs_whatever_its_type(
    client: Client,
) -> None:
    for headers in (
        JSON,
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json", "Apollo-Require-Preflight": "1"},
    ):
        response = await client.post(
            "/graphql",
            data='{"query": "mutation { x }"}',
            headers={**headers, "Origin": "https://evil.example"},
        )
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
        body = await response.json()
        assert body["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert _ran(client) == []


async def test_an_allowed_origin_gets_the_cors_headers(client: Client) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ x }"}, headers={"Origin": "http://localhost:5173"}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


async def test_a_streamed_response_gets_the_cors_headers_before_its_body(
    client: Client,
) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "subscription { x }"},
        headers={"Accept": "text/event-stream", "Origin": "http://127.0.0.1:3000"},
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    assert (await response.read()).endswith(b"event: complete\ndata: \n\n")


async def test_the_gateways_own_origin_is_always_allowed(aiohttp_client: Any) -> None:
    policy = SecurityPolicy.build(
        listen_host="0.0.0.0",
        allowed_hosts=["gw.example.test"],
        cors=CorsConfig(allow_origins=("https://ui.example.test",)),
    )
    client = await aiohttp_client(_app(policy))
    response = await client.post(
        "/graphql",
        json={"query": "{ x }"},
        headers={
            "Host": "gw.example.test:4000",
            "Origin": "http://gw.example.test:4000",
        },
    )
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers  # same origin


async def test_a_preflight_is_204_with_the_allowed_methods_and_headers(
    client: Client,
) -> None:
    response = await client.options(
        "/graphql",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status == 204
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert headers["Access-Control-Allow-Methods"] == "HEAD, GET, POST"
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]
    assert "Apollo-Require-Preflight" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Max-Age"] == "300"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert _ran(client) == []


async def test_a_preflight_from_a_foreign_origin_gets_no_allow_origin(
    client: Client,
) -> None:
    response = await client.options(
        "/graphql",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_configured_cors_is_used_and_disabled_cors_refuses_cross_origin(
    aiohttp_client: Any,
) -> None:
    cors = CorsConfig(
        allow_origins=("https://ui.example.test",),
        allow_methods=("POST",),
        allow_headers=("Content-Type", "X-Tenant"),
        allow_credentials=False,
        max_age=60,
    )
    client = await aiohttp_client(
        _app(SecurityPolicy.build(listen_host="127.0.0.1", cors=cors))
    )
    response = await client.options(
        "/graphql",
        headers={
            "Origin": "https://ui.example.test",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Tenant"
    assert response.headers["Access-Control-Max-Age"] == "60"
    assert "Access-Control-Allow-Credentials" not in response.headers
    local = await client.post(
        "/graphql", json={}, headers={"Origin": "http://localhost:3000"}
    )
    assert local.status == 403

    off = await aiohttp_client(
        _app(
            SecurityPolicy.build(
                listen_host="127.0.0.1", cors=CorsConfig(enabled=False)
            )
        )
    )
    response = await off.post(
        "/graphql", json={}, headers={"Origin": "http://localhost:3000"}
    )
    assert response.status == 403


# -- CSRF prevention -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
async def test_a_simple_post_is_refused_with_400(
    client: Client, content_type: str
) -> None:
    response = await client.post(
        "/graphql",
        data=b'{"query": "mutation { x }"}',
        headers={"Content-Type": content_type},
    )
    assert response.status == 400
    error = (await response.json())["errors"][0]
    assert error["extensions"]["code"] == "PREFLIGHT_REQUIRED"
    assert "Apollo-Require-Preflight" in error["message"]
    assert _ran(client) == []


async def test_a_get_operation_needs_a_preflighted_header(client: Client) -> None:
    refused = await client.get("/graphql", params={"query": "{ x }"})
    assert refused.status == 400
    for header in (
        "Apollo-Require-Preflight",
        "X-Requested-With",
        "X-Apollo-Operation-Name",
    ):
        response = await client.get(
            "/graphql", params={"query": "{ x }"}, headers={header: "1"}
        )
        assert response.status == 200, header
    response = await client.get(
        "/graphql",
        params={"query": "{ x }"},
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert _ran(client) == ["GET"] * 4


async def test_an_empty_preflight_header_does_not_count(client: Client) -> None:
    response = await client.post(
        "/graphql",
        data="{}",
        headers={"Content-Type": "text/plain", "Apollo-Require-Preflight": " "},
    )
    assert response.status == 400


async def test_event_source_gets_stay_allowed(client: Client) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "subscription { x }"},
        headers={"Accept": "text/event-stream", "Origin": "http://localhost:5173"},
    )
    assert response.status == 200
    no_origin = await client.get(
        "/graphql",
        params={"query": "subscription { x }"},
        headers={"Accept": "text/event-stream"},
    )
    assert no_origin.status == 200


async def test_a_cross_site_no_cors_get_is_no_event_source(client: Client) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "subscription { x }"},
        headers={"Accept": "text/event-stream", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status == 400


async def test_pages_and_other_routes_are_not_operations(client: Client) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status == 200
    assert (await client.get("/health")).status == 200


async def test_csrf_prevention_can_be_turned_off(aiohttp_client: Any) -> None:
    client = await aiohttp_client(
        _app(SecurityPolicy.build(listen_host="127.0.0.1", csrf_prevention=False))
    )
    response = await client.get("/graphql", params={"query": "{ x }"})
    assert response.status == 200
