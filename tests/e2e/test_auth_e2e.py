"""JWT authentication and field authorization through the real ``gateway serve``.

A JWKS server on loopback (an RS256 and an ES256 key, a key rotated in, a down
period); two subgraphs whose fields carry ``@authenticated``/``@requiresScopes``:
accounts (in-process, reads the claims from its context) and orders (served over
HTTP, sees ``X-User-Id`` set from the claims by a header rule).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.http.subgraph_app import create_subgraph_app
from tests.fixtures.vault import ORDERS_SDL, orders
from tests.helpers.curl import sse_events
from tests.helpers.jwks import JwksServer, SigningKey, ec_key, rsa_key
from tests.helpers.processes import GatewayProcess, StartGateway

ORDERS_QUERY = "{ users { id name email salary orders { id total } } }"


@dataclass
class Setup:
    gateway: GatewayProcess
    jwks: JwksServer
    rsa: SigningKey
    ec: SigningKey


def _config(
    tmp_path: Path,
    jwks_url: str,
    orders_url: str,
    *,
    require: bool = False,
    reject: bool = False,
) -> Path:
    (tmp_path / "orders.graphql").write_text(ORDERS_SDL)
    config = tmp_path / f"supergraph-{int(require)}{int(reject)}.yaml"
    config.write_text(
        f"""
version: 1
subgraphs:
  - name: accounts
    module: tests.fixtures.vault:accounts
  - name: orders
    routing_url: {orders_url}
    schema:
      file: orders.graphql
gateway:
  authentication:
    jwt:
      jwks:
        - url: {jwks_url}
          refresh_interval: 1h
          timeout: 2s
      issuer: https://idp.test/
      audience: gateway-tests
      clock_skew: 0s
      min_refresh_interval: 0s
  authorization:
    require_authentication: {str(require).lower()}
    reject_unauthorized: {str(reject).lower()}
  headers:
    subgraphs:
      orders:
        request:
          - op: set
            name: X-User-Id
            expression: request.auth.claims.sub
"""
    )
    return config


Start = Callable[..., Awaitable[Setup]]


@pytest.fixture
async def auth_gateway(
    tmp_path: Path, start_gateway: StartGateway
) -> AsyncIterator[Start]:
    servers: list[TestServer] = []

    async def start(**options: Any) -> Setup:
        jwks = JwksServer([rsa_key("rsa-1"), ec_key("ec-1")])
        jwks_server = TestServer(jwks.app(), host="127.0.0.1")
        await jwks_server.start_server()
        servers.append(jwks_server)
        orders_server = TestServer(create_subgraph_app(orders({})), host="127.0.0.1")
        await orders_server.start_server()
        servers.append(orders_server)
        config = _config(
            tmp_path,
            str(jwks_server.make_url("/jwks.json")),
            str(orders_server.make_url("/graphql")),
            **options,
        )
        gateway = await start_gateway(config)
        return Setup(gateway, jwks, jwks.keys[0], jwks.keys[1])

    yield start
    for server in servers:
        await server.close()


async def post(
    gateway: GatewayProcess,
    query: str,
    token: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url, json={"query": query}, headers=sent) as response,
    ):
        return response.status, json.loads(await response.read())


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_valid_rs256_and_es256_tokens_see_the_fields_their_scopes_allow(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    for key in (setup.rsa, setup.ec):
        token = key.token(scope="hr:read orders:read")
        status, body = await post(setup.gateway, ORDERS_QUERY, token)
        assert status == 200, body
        assert "errors" not in body, body
        ada = body["data"]["users"][0]
        assert ada == {
            "id": "u1",
            "name": "Ada",
            "email": "ada@example.test",
            "salary": 100,
            "orders": [{"id": "u1-o1", "total": 42}],
        }


async def test_a_token_without_scopes_gets_partial_data_and_an_error_per_field(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    status, body = await post(setup.gateway, ORDERS_QUERY, setup.rsa.token())
    assert status == 200, body
    users = body["data"]["users"]
    assert users[0]["email"] == "ada@example.test"  # @authenticated: a token is enough
    assert users[0]["salary"] is None  # @requiresScopes hr:read
    assert users[0]["name"] == "Ada"
    assert users[1]["orders"] is None  # @requiresScopes orders:read or admin
    paths = sorted(
        e["path"]
        for e in body["errors"]
        if e["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"
    )
    assert paths == [["users", "orders"], ["users", "salary"]], body


async def test_the_admin_scope_is_the_other_way_to_see_orders(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    status, body = await post(
        setup.gateway,
        "{ users { id orders { total } } }",
        setup.ec.token(scope="admin"),
    )
    assert status == 200 and "errors" not in body, body
    assert body["data"]["users"][1] == {"id": "u2", "orders": [{"total": 42}]}


async def test_a_missing_token_is_anonymous_unless_authentication_is_required(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    status, body = await post(setup.gateway, "{ users { name email } me { name } }")
    assert status == 200, body
    assert body["data"] == {
        "users": [{"name": "Ada", "email": None}, {"name": "Bob", "email": None}],
        "me": None,
    }
    assert set(codes(body)) == {"UNAUTHORIZED_FIELD_OR_TYPE"}

    required = await auth_gateway(require=True)
    status, body = await post(required.gateway, "{ users { name } }")
    assert status == 401, body
    assert codes(body) == ["UNAUTHENTICATED"]
    status, body = await post(
        required.gateway, "{ users { name } }", required.rsa.token()
    )
    assert status == 200 and body["data"]["users"][0]["name"] == "Ada", body


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"expires_in": -120}, "expired"),
        ({"issuer": "https://evil.test/"}, "issuer"),
        ({"audience": "someone-else"}, "audience"),
    ],
)
async def test_a_token_that_does_not_verify_is_401_unauthenticated(
    auth_gateway: Start, claims: dict[str, Any], words: str
) -> None:
    setup = await auth_gateway()
    status, body = await post(
        setup.gateway, "{ users { name } }", setup.rsa.token(**claims)
    )
    assert status == 401, body
    assert codes(body) == ["UNAUTHENTICATED"]
    assert words in body["errors"][0]["message"]
    assert "Traceback" not in setup.gateway.output()


async def test_garbage_and_forged_tokens_are_401_never_500(auth_gateway: Start) -> None:
    setup = await auth_gateway()
    forged = rsa_key("rsa-1").token()  # the right kid, another private key
    for token in ("garbage", "a.b.c", forged):
        status, body = await post(setup.gateway, "{ users { name } }", token)
        assert status == 401, (token, body)
        assert codes(body) == ["UNAUTHENTICATED"]
    status, body = await post(
        setup.gateway, "{ users { name } }", headers={"Authorization": "Basic abc"}
    )
    assert status == 401 and codes(body) == ["UNAUTHENTICATED"], body


async def test_an_unknown_kid_refreshes_the_keys_and_a_down_jwks_keeps_the_last(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    fetches = setup.jwks.fetches
    rotated = rsa_key("rsa-2")
    setup.jwks.keys.append(rotated)  # rotated in at the identity provider
    status, body = await post(setup.gateway, "{ me { name } }", rotated.token(sub="u2"))
    assert status == 200, body
    assert body["data"] == {"me": {"name": "Bob"}}  # claims in the in-process context
    assert setup.jwks.fetches == fetches + 1

    setup.jwks.down = True
    unknown = rsa_key("rsa-3")
    status, body = await post(setup.gateway, "{ me { name } }", unknown.token())
    assert status == 401 and codes(body) == ["UNAUTHENTICATED"], body
    assert setup.jwks.fetches == fetches + 2
    # The keys read before the JWKS went down still verify.
    status, body = await post(setup.gateway, "{ me { name } }", rotated.token(sub="u1"))
    assert status == 200 and body["data"] == {"me": {"name": "Ada"}}, body
    assert "keeping its" in setup.gateway.output()


async def test_reject_mode_fails_the_whole_operation(auth_gateway: Start) -> None:
    setup = await auth_gateway(reject=True)
    status, body = await post(setup.gateway, ORDERS_QUERY, setup.rsa.token())
    assert status == 403, body
    assert "data" not in body or body["data"] is None
    assert set(codes(body)) == {"UNAUTHORIZED_FIELD_OR_TYPE"}
    status, body = await post(
        setup.gateway,
        ORDERS_QUERY,
        setup.rsa.token(scope="hr:read orders:read"),
    )
    assert status == 200 and "errors" not in body, body


async def test_a_header_rule_sends_the_subject_claim_to_a_remote_subgraph(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    status, body = await post(setup.gateway, "{ seenUserId }", setup.ec.token(sub="u2"))
    assert status == 200 and body["data"] == {"seenUserId": "u2"}, body
    # A client cannot set it itself: the rule takes it from the verified claims.
    status, body = await post(
        setup.gateway, "{ seenUserId }", headers={"X-User-Id": "u1"}
    )
    assert status == 200 and body["data"] == {"seenUserId": None}, body


async def test_an_event_stream_ends_with_an_error_when_its_token_expires(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    token = setup.rsa.token(expires_in=-1)
    # An expired token never opens a stream.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            setup.gateway.url,
            json={"query": "{ users { name } }"},
            headers={
                "Accept": "text/event-stream",
                "Authorization": f"Bearer {token}",
            },
        ) as response,
    ):
        assert response.status == 401


async def test_tokens_work_with_the_cors_and_host_rules(auth_gateway: Start) -> None:
    setup = await auth_gateway()
    ui = "http://localhost:5173"
    async with aiohttp.ClientSession() as session:
        async with session.options(
            setup.gateway.url,
            headers={
                "Origin": ui,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        ) as response:
            assert response.status in (200, 204)
            allowed = response.headers.get("Access-Control-Allow-Headers", "").lower()
            assert "authorization" in allowed
    status, body = await post(
        setup.gateway,
        "{ users { email } }",
        setup.rsa.token(),
        headers={"Origin": ui},
    )
    assert status == 200 and body["data"]["users"][0]["email"], body
    # A foreign page gets nothing, valid token or not; nor does a rebound Host.
    status, body = await post(
        setup.gateway,
        "{ users { email } }",
        setup.rsa.token(),
        headers={"Origin": "https://evil.test"},
    )
    assert status == 403, body
    status, body = await post(
        setup.gateway,
        "{ users { email } }",
        setup.rsa.token(),
        headers={"Host": "evil.test"},
    )
    assert status == 421, body


async def test_a_subscription_ends_with_an_error_when_its_token_expires(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    token = setup.ec.token(expires_in=3)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.post(
            setup.gateway.url,
            json={"query": "subscription { ticks(every: 0.2) }"},
            headers={
                "Accept": "text/event-stream",
                "Authorization": f"Bearer {token}",
            },
        ) as response,
    ):
        assert response.status == 200
        text = (await response.read()).decode()  # the gateway ends the stream
    events = sse_events(text)
    assert events[-1]["event"] == "complete"
    payloads = [json.loads(e["data"]) for e in events[:-1]]
    # The ticks sent before the expiry, in order (how many depends on the clock),
    # then the error that ends the stream.
    ticks = payloads[:-1]
    assert ticks == [{"data": {"ticks": n}} for n in range(1, len(ticks) + 1)]
    last = payloads[-1]
    assert [e["extensions"]["code"] for e in last["errors"]] == ["UNAUTHENTICATED"]
    assert "expired" in last["errors"][0]["message"]


async def test_an_anonymous_subscription_to_an_authenticated_field_is_null(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.post(
            setup.gateway.url,
            json={"query": "subscription { ticks }"},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        text = (await response.read()).decode()
    events = sse_events(text)
    assert events[-1]["event"] == "complete"
    body = json.loads(events[0]["data"])
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [
        "UNAUTHORIZED_FIELD_OR_TYPE"
    ]


async def _socket_answer(
    gateway: GatewayProcess, init_payload: dict[str, Any], query: str
) -> tuple[int | None, list[dict[str, Any]]]:
    """Open a graphql-transport-ws socket, run ``query``; the close code (or None)
    and the messages received after the ack."""
    received: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(gateway.url, protocols=("graphql-transport-ws",)) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": init_payload})
        message = await ws.receive(timeout=10)
        if message.type != aiohttp.WSMsgType.TEXT:
            return ws.close_code, received
        assert json.loads(message.data)["type"] == "connection_ack"
        await ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query}}
        )
        while True:
            message = await ws.receive(timeout=10)
            if message.type != aiohttp.WSMsgType.TEXT:
                return ws.close_code, received
            frame = json.loads(message.data)
            received.append(frame)
            if frame["type"] in ("complete", "error"):
                return None, received


async def test_a_websocket_token_in_connection_init_authenticates_and_authorizes(
    auth_gateway: Start,
) -> None:
    setup = await auth_gateway(require=True)
    query = "{ users { name salary } }"
    # No token, or a bad one, while authentication is required: 4403 at init.
    code, _ = await _socket_answer(setup.gateway, {}, query)
    assert code == 4403
    code, _ = await _socket_answer(
        setup.gateway, {"Authorization": "Bearer not-a-token"}, query
    )
    assert code == 4403
    # A token with the scope sees the field; one without gets null and an error.
    scoped = setup.rsa.token(scope="hr:read")
    code, frames = await _socket_answer(
        setup.gateway, {"Authorization": f"Bearer {scoped}"}, query
    )
    assert code is None and frames[0]["type"] == "next", frames
    assert frames[0]["payload"]["data"]["users"][0] == {"name": "Ada", "salary": 100}
    code, frames = await _socket_answer(
        setup.gateway,
        {"headers": {"Authorization": f"Bearer {setup.rsa.token()}"}},
        query,
    )
    assert code is None and frames[0]["type"] == "next", frames
    payload = frames[0]["payload"]
    assert payload["data"]["users"][0] == {"name": "Ada", "salary": None}
    assert codes(payload) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
