"""The playground page and its assets, served by the gateway itself (gateway.http.playground)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_config
from gateway.http.app import create_app
from gateway.http.playground import ASSETS

SHOP = Path(__file__).parent / "fixtures" / "shop.yaml"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(load_config(SHOP)))


def fake_assets(folder: Path) -> None:
    for name, path in ASSETS.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(f"/* {name} */")


async def test_without_assets_the_page_says_they_are_missing_and_how_to_get_them(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PLAYGROUND_ASSETS", str(tmp_path))
    response = await client.get("/graphql", headers=HTML)
    assert response.status == 200
    page = await response.text()
    assert "assets are missing" in page
    assert "scripts/lib/node-deps.sh playground" in page
    assert "<script" not in page  # nothing that could spin
    missing = await client.get("/playground/graphiql.min.js")
    assert missing.status == 404


async def test_with_assets_the_page_loads_everything_from_the_gateway(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_assets(tmp_path)
    monkeypatch.setenv("GATEWAY_PLAYGROUND_ASSETS", str(tmp_path))
    page = await (await client.get("/graphql", headers=HTML)).text()
    assert "https://" not in page and "http://" not in page
    for name in ASSETS:
        assert f'"/playground/{name}"' in page
        asset = await client.get(f"/playground/{name}")
        assert asset.status == 200
        assert await asset.text() == f"/* {name} */"


async def test_only_the_known_assets_are_served(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_assets(tmp_path)
    (tmp_path / "secret.txt").write_text("no")
    monkeypatch.setenv("GATEWAY_PLAYGROUND_ASSETS", str(tmp_path))
    for name in ("secret.txt", "..%2Fsecret.txt", "graphiql"):
        assert (await client.get(f"/playground/{name}")).status == 404


async def test_the_playground_can_be_turned_off(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    config = tmp_path / "supergraph.yaml"
    config.write_text(SHOP.read_text() + "  playground: false\n")
    client = await aiohttp_client(create_app(load_config(config)))
    response = await client.get("/graphql", headers=HTML)
    assert response.status == 400  # a GraphQL GET without a query
    assert (await client.get("/playground/graphiql.min.js")).status == 404
