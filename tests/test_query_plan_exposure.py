"""Query plans over HTTP: ``Apollo-Expose-Query-Plan: true`` (Apollo Router) or
``X-WG-Include-Query-Plan: true`` (Cosmo) puts the plan in ``extensions.queryPlan``
when ``gateway.expose_query_plans`` is on (the default for a loopback listener)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import load_config
from gateway.config.model import GatewayConfig
from gateway.http.app import create_app

SHOP = Path(__file__).parent / "fixtures" / "shop.yaml"
QUERY = {"query": "{ topProducts { name reviews { body } } }"}


async def _client(aiohttp_client: Any, **gateway: Any) -> Any:
    config = load_config(SHOP)
    config = dataclasses.replace(
        config, gateway=dataclasses.replace(config.gateway, **gateway)
    )
    return await aiohttp_client(create_app(config))


async def _post(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        data=orjson.dumps(QUERY),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


@pytest.mark.parametrize(
    "header", ["Apollo-Expose-Query-Plan", "X-WG-Include-Query-Plan"]
)
async def test_either_header_puts_the_plan_in_extensions(
    aiohttp_client: Any, header: str
) -> None:
    client = await _client(aiohttp_client)
    body = await _post(client, {header: "true"})
    plan = body["extensions"]["queryPlan"]
    assert plan["kind"] == "QueryPlan"
    assert plan["node"]["kind"] == "Sequence"
    fetch, flatten = plan["node"]["nodes"]
    assert fetch["serviceName"] == "products"
    assert flatten["kind"] == "Flatten" and flatten["path"] == ["topProducts", "@"]
    assert flatten["node"]["serviceName"] == "reviews"
    assert plan["text"].startswith("QueryPlan {")
    assert body["data"]["topProducts"]


async def test_no_header_no_plan(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client)
    body = await _post(client, {})
    assert "extensions" not in body


async def test_plans_are_not_exposed_when_the_setting_is_off(
    aiohttp_client: Any,
) -> None:
    client = await _client(aiohttp_client, expose_query_plans=False)
    body = await _post(client, {"Apollo-Expose-Query-Plan": "true"})
    assert "extensions" not in body


@pytest.mark.parametrize(
    ("host", "setting", "exposed"),
    [
        ("127.0.0.1", None, True),
        ("localhost", None, True),
        ("::1", None, True),
        ("0.0.0.0", None, False),
        ("192.168.1.5", None, False),
        ("0.0.0.0", True, True),
        ("127.0.0.1", False, False),
    ],
)
def test_plans_are_exposed_by_default_only_on_loopback_listeners(
    host: str, setting: bool | None, exposed: bool
) -> None:
    config = GatewayConfig(host=host, expose_query_plans=setting)
    assert config.query_plans_exposed is exposed


def test_expose_query_plans_is_read_from_supergraph_yaml(tmp_path: Path) -> None:
    text = SHOP.read_text().replace(
        "gateway:\n", "gateway:\n  expose_query_plans: false\n"
    )
    path = tmp_path / "supergraph.yaml"
    path.write_text(text)
    config = load_config(path)
    assert config.gateway.expose_query_plans is False
