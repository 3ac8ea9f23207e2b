"""Automatic persisted queries (Apollo's APQ) and trusted documents (gateway.persisted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import load_config
from gateway.errors import BadRequestError, ConfigError, OperationError
from gateway.http.app import create_app
from gateway.operation import GraphQLRequest
from gateway.persisted import (
    DocumentStore,
    PersistedDocuments,
    load_manifest,
    sha256_hex,
)

SHOP = Path(__file__).parent / "fixtures" / "shop.yaml"
QUERY = "{ topProducts(first: 1) { name } }"
ANSWER = {"data": {"topProducts": [{"name": "Product 1"}]}}


def _apq(key: str, query: str | None = None) -> GraphQLRequest:
    return GraphQLRequest(
        query=query,
        extensions={"persistedQuery": {"version": 1, "sha256Hash": key}},
    )


def _code(info: pytest.ExceptionInfo[Any]) -> str:
    return str(info.value.code)


# -- the store and the protocol ------------------------------------------------------


def test_an_unknown_hash_is_not_found_then_registers_with_its_document() -> None:
    documents = PersistedDocuments(apq=DocumentStore(1 << 20))
    key = sha256_hex(QUERY)
    with pytest.raises(OperationError) as info:
        documents.resolve(_apq(key))
    assert _code(info) == "PERSISTED_QUERY_NOT_FOUND"
    assert info.value.message == "PersistedQueryNotFound"
    assert documents.resolve(_apq(key, QUERY)).query == QUERY
    assert documents.resolve(_apq(key)).query == QUERY


def test_a_document_that_does_not_match_its_hash_is_refused_and_not_stored() -> None:
    documents = PersistedDocuments(apq=DocumentStore(1 << 20))
    key = sha256_hex(QUERY)
    with pytest.raises(BadRequestError) as info:
        documents.resolve(_apq(key, "{ somethingElse }"))
    assert _code(info) == "PERSISTED_QUERY_HASH_MISMATCH"
    with pytest.raises(OperationError):
        documents.resolve(_apq(key))


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": "ab"}, {"version": 1}, "abc", {"sha256Hash": ""}],
)
def test_a_malformed_persisted_query_extension_is_a_bad_request(persisted: Any) -> None:
    documents = PersistedDocuments(apq=DocumentStore(1 << 20))
    with pytest.raises(BadRequestError):
        documents.resolve(
            GraphQLRequest(query=None, extensions={"persistedQuery": persisted})
        )


def test_without_apq_a_hash_alone_is_not_supported() -> None:
    documents = PersistedDocuments(apq=None)
    with pytest.raises(OperationError) as info:
        documents.resolve(_apq(sha256_hex(QUERY)))
    assert _code(info) == "PERSISTED_QUERY_NOT_SUPPORTED"


def test_the_store_keeps_its_bytes_under_the_bound_dropping_the_oldest() -> None:
    store = DocumentStore(max_bytes=1000)
    for n in range(100):
        document = f"{{ a{n:03d} }}" + " " * 100
        store.put(sha256_hex(document), document)
        assert store.bytes <= 1000
    assert 0 < len(store) < 100
    last = "{ a099 }" + " " * 100
    assert store.get(sha256_hex(last)) == last
    first = "{ a000 }" + " " * 100
    assert store.get(sha256_hex(first)) is None


def test_a_document_larger_than_the_store_is_not_kept() -> None:
    store = DocumentStore(max_bytes=10)
    store.put("k", "{ a_long_document }")
    assert len(store) == 0 and store.bytes == 0


# -- trusted documents -----------------------------------------------------------------


def test_manifests_in_every_accepted_shape_load(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"h1": "{ a }"}))
    apollo = tmp_path / "apollo.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": "h2", "body": "{ b }", "name": "B"}],
            }
        )
    )
    folder = tmp_path / "ops" / "my-client"
    folder.mkdir(parents=True)
    (folder / "h3.graphql").write_text("{ c }")
    (folder / "h4.json").write_text(json.dumps({"version": 1, "body": "{ d }"}))
    assert load_manifest(flat) == {"h1": "{ a }"}
    assert load_manifest(apollo) == {"h2": "{ b }"}
    assert load_manifest(tmp_path / "ops") == {"h3": "{ c }", "h4": "{ d }"}


def test_a_manifest_of_the_wrong_shape_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"operations": [{"id": 1}]}))
    with pytest.raises(ConfigError):
        load_manifest(bad)


def test_blocking_runs_trusted_documents_only() -> None:
    documents = PersistedDocuments(
        trusted={"my-id": QUERY}, apq=DocumentStore(1 << 20), block_non_persisted=True
    )
    assert documents.resolve(_apq("my-id")).query == QUERY
    assert documents.resolve(GraphQLRequest(query=QUERY)).query == QUERY
    with pytest.raises(OperationError) as info:
        documents.resolve(GraphQLRequest(query="{ other }"))
    assert _code(info) == "PERSISTED_QUERY_NOT_IN_LIST"
    other = "{ other }"
    with pytest.raises(OperationError) as info:
        documents.resolve(_apq(sha256_hex(other), other))
    assert _code(info) == "PERSISTED_QUERY_NOT_IN_LIST"
    with pytest.raises(OperationError) as info:
        documents.resolve(_apq(sha256_hex(other)))
    assert _code(info) == "PERSISTED_QUERY_NOT_FOUND"


# -- over HTTP -------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(load_config(SHOP)))


def _extensions(key: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": key}}


async def test_apq_over_post_and_get(client: Any) -> None:
    key = sha256_hex(QUERY)
    extensions = json.dumps(_extensions(key))
    preflighted = {"Apollo-Require-Preflight": "true"}  # CSRF prevention
    miss = await client.get(
        "/graphql", params={"extensions": extensions}, headers=preflighted
    )
    assert miss.status == 200
    body = await miss.json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await client.post(
        "/graphql", json={"query": QUERY, "extensions": _extensions(key)}
    )
    assert await registered.json() == ANSWER
    hit = await client.get(
        "/graphql",
        params={"extensions": extensions, "query": ""},
        headers=preflighted,
    )
    assert await hit.json() == ANSWER
    posted = await client.post("/graphql", json={"extensions": _extensions(key)})
    assert await posted.json() == ANSWER


async def test_a_hash_mismatch_over_http_is_a_400(client: Any) -> None:
    response = await client.post(
        "/graphql",
        data=orjson.dumps({"query": QUERY, "extensions": _extensions("0" * 64)}),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json",
        },
    )
    assert response.status == 400
    body = await response.json(content_type=None)
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


async def test_a_request_without_query_or_persisted_query_is_still_refused(
    client: Any,
) -> None:
    response = await client.post("/graphql", json={"extensions": {}})
    assert response.status == 400
    assert "no 'query'" in (await response.json())["errors"][0]["message"]


async def test_config_keys_block_non_persisted_operations(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"top-one": QUERY}))
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        SHOP.read_text()
        + "\n".join(
            [
                "",
                "  persisted_operations:",
                f"    manifest: {manifest}",
                "    block_non_persisted_operations: true",
                "  automatic_persisted_queries:",
                "    cache:",
                "      size: 1MB",
                "",
            ]
        )
    )
    loaded = load_config(config)
    assert loaded.gateway.persisted.block_non_persisted_operations
    assert loaded.gateway.persisted.apq_cache_bytes == 1 << 20
    client = await aiohttp_client(create_app(loaded))
    trusted = await client.post("/graphql", json={"extensions": _extensions("top-one")})
    assert await trusted.json() == ANSWER
    other = await client.post("/graphql", json={"query": "{ __typename }"})
    body = await other.json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    # A WebSocket is no way around it.
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}}
        )
        message = await ws.receive_json(timeout=10)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_IN_LIST"
        )
        await ws.send_json(
            {"id": "2", "type": "subscribe", "payload": {"query": QUERY}}
        )
        message = await ws.receive_json(timeout=10)
        assert message == {"id": "2", "type": "next", "payload": ANSWER}


async def test_block_non_persisted_operations_under_gateway_limits(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"top-one": QUERY}))
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        SHOP.read_text()
        + "\n".join(
            [
                "",
                "  persisted_operations:",
                f"    manifest: {manifest}",
                "  limits:",
                "    block_non_persisted_operations: true",
                "",
            ]
        )
    )
    loaded = load_config(config)
    assert loaded.gateway.limits.block_non_persisted_operations
    client = await aiohttp_client(create_app(loaded))
    trusted = await client.post("/graphql", json={"extensions": _extensions("top-one")})
    assert await trusted.json() == ANSWER
    other = await client.post("/graphql", json={"query": "{ __typename }"})
    body = await other.json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"


def test_a_missing_manifest_is_a_config_error_with_its_key(tmp_path: Path) -> None:
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        SHOP.read_text() + "\n  persisted_operations:\n    directory: nowhere\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "gateway.persisted_operations.directory" in str(info.value)
