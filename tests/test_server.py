"""The HTTP server: GraphQL over HTTP, its error statuses, health and the playground."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import load_config
from gateway.errors import NotAcceptableError
from gateway.http.app import create_app
from gateway.http.graphql import negotiate

SHOP = Path(__file__).parent / "fixtures" / "shop.yaml"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(load_config(SHOP)))


async def _post(client: Any, body: Any, accept: str | None = None, **kw: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    data = body if isinstance(body, bytes | str) else orjson.dumps(body)
    return await client.post("/graphql", data=data, headers=headers, **kw)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json;q=1, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        ("text/event-stream", "text/event-stream"),
        ("text/html, */*;q=0.8", "application/json"),
    ],
)
def test_negotiate_picks_the_best_supported_media_type(
    accept: str | None, media: str
) -> None:
    assert negotiate(accept).single.media == media


def test_negotiate_refuses_what_it_cannot_send() -> None:
    with pytest.raises(NotAcceptableError):
        negotiate("image/png")


async def test_post_joins_two_subgraphs(client: Any) -> None:
    response = await _post(
        client, {"query": "{ topProducts(first: 2) { name reviews { body } } }"}
    )
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {
        "data": {
            "topProducts": [
                {"name": "Product 1", "reviews": [{"body": "Good p1"}]},
                {"name": "Product 2", "reviews": [{"body": "Good p2"}]},
            ]
        }
    }


async def test_get_runs_a_query_with_variables(client: Any) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query P($upc: String!) { product(upc: $upc) { name } }",
            "variables": '{"upc": "p3"}',
        },
        # A GET must show it was not sent by a foreign page (CSRF prevention).
        headers={"Accept": GRAPHQL_RESPONSE, "Apollo-Require-Preflight": "true"},
    )
    assert response.status == 200
    assert response.content_type == GRAPHQL_RESPONSE
    assert await response.json() == {"data": {"product": {"name": "Product 3"}}}


async def test_mutation_over_get_is_405_with_allow_post(client: Any) -> None:
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { setPrice(upc: "p1", price: 1) { price } }'},
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    # and nothing changed
    after = await _post(client, {"query": '{ product(upc: "p1") { price } }'})
    assert (await after.json())["data"]["product"]["price"] == 10


async def test_mutation_over_post_runs(client: Any) -> None:
    response = await _post(
        client, {"query": 'mutation { setPrice(upc: "p1", price: 7) { upc price } }'}
    )
    assert await response.json() == {"data": {"setPrice": {"upc": "p1", "price": 7}}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "BAD_REQUEST"),
        (b"[]", "BAD_REQUEST"),
        ({"variables": {}}, "BAD_REQUEST"),
        ({"query": 3}, "BAD_REQUEST"),
        ({"query": "{ __typename }", "variables": "[1]"}, "BAD_REQUEST"),
        ({"query": "{ __typename }", "operationName": 5}, "BAD_REQUEST"),
    ],
)
async def test_malformed_requests_are_400_with_a_code(
    client: Any, body: Any, code: str
) -> None:
    for accept in (None, GRAPHQL_RESPONSE):
        response = await _post(client, body, accept)
        assert response.status == 400
        errors = (await response.json())["errors"]
        assert errors[0]["extensions"]["code"] == code
        assert "Traceback" not in errors[0]["message"]


async def test_wrong_content_type_is_415(client: Any) -> None:
    response = await client.post(
        "/graphql",
        data="{ __typename }",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 415
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_body_over_the_limit_is_413(client: Any) -> None:
    query = "{ __typename " + " " * 4096 + "}"
    response = await _post(client, {"query": query})
    assert response.status == 413
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_validation_errors_are_200_in_json_and_400_in_graphql_response(
    client: Any,
) -> None:
    query = {"query": "{ topProducts { nope } }"}
    legacy = await _post(client, query, "application/json")
    assert legacy.status == 200
    modern = await _post(client, query, GRAPHQL_RESPONSE)
    assert modern.status == 400
    for response in (legacy, modern):
        body = await response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert body["errors"][0]["locations"]


async def test_parse_errors_have_their_own_code(client: Any) -> None:
    response = await _post(client, {"query": "{"}, GRAPHQL_RESPONSE)
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_wrongly_typed_variables_are_bad_user_input(client: Any) -> None:
    response = await _post(
        client,
        {
            "query": "query P($upc: String!) { product(upc: $upc) { name } }",
            "variables": {"upc": 5},
        },
        GRAPHQL_RESPONSE,
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unknown_operation_name_is_an_error(client: Any) -> None:
    response = await _post(
        client,
        {"query": "query A { __typename }", "operationName": "B"},
        GRAPHQL_RESPONSE,
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "OPERATION_NOT_FOUND"


async def test_several_operations_need_a_name(client: Any) -> None:
    response = await _post(
        client,
        {"query": "query A { __typename } query B { __typename }"},
        GRAPHQL_RESPONSE,
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"


async def test_unacceptable_accept_is_406(client: Any) -> None:
    response = await _post(client, {"query": "{ __typename }"}, "image/png")
    assert response.status == 406
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_subscription_without_event_stream_is_refused(client: Any) -> None:
    # The shop graph has no Subscription type: this is a validation error first.
    response = await _post(client, {"query": "subscription { x }"}, GRAPHQL_RESPONSE)
    assert response.status == 400


async def test_unknown_method_is_405(client: Any) -> None:
    response = await client.patch("/graphql", data=b"{}")
    assert response.status == 405
    assert "POST" in response.headers["Allow"]


async def test_health_endpoints(client: Any) -> None:
    for path in ("/health", "/health/live"):
        response = await client.get(path)
        assert response.status == 200
    ready = await client.get("/health/ready")
    assert ready.status == 200
    assert (await ready.json())["subgraphs"] == ["products", "reviews"]


async def test_browsers_get_the_playground(client: Any) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "graphiql" in (await response.text()).lower()


async def test_introspection_is_answered_from_the_client_schema(client: Any) -> None:
    response = await _post(
        client, {"query": '{ __type(name: "Product") { fields { name } } }'}
    )
    body = await response.json()
    names = {f["name"] for f in body["data"]["__type"]["fields"]}
    assert names == {"upc", "name", "price", "reviews"}


async def test_an_internal_failure_is_a_graphql_error_without_a_traceback(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.http.app import STATE

    engine = client.server.app[STATE].engine

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine, "execute", broken)
    with caplog.at_level(logging.ERROR, logger="gateway.masking"):
        response = await _post(client, {"query": "{ topProducts { name } }"})
    assert response.status == 500
    body = await response.json()
    request_id = body["errors"][0]["extensions"]["requestId"]
    assert body == {
        "errors": [
            {
                "message": "internal server error",
                "extensions": {
                    "code": "INTERNAL_SERVER_ERROR",
                    "requestId": request_id,
                },
            }
        ]
    }
    # The text stays in the log, under the id the client was given.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1 and "a bug" in str(logged[0].exc_info[1])
