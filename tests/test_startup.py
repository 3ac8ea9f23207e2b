"""Start-up: SDL from files, modules and introspection; composition; transports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError
from gateway.startup import compose_config, introspect_sdl, load_local_subgraphs
from tests.fixtures.shop import PRODUCTS_SDL, REVIEWS_SDL

SEEN = web.AppKey("seen", list[Any])


def _service_app(sdl: str | None, *, status: int = 200) -> web.Application:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(await request.json())
        if sdl is None:
            return web.json_response(
                {"errors": [{"message": "no _service"}]}, status=status
            )
        return web.json_response({"data": {"_service": {"sdl": sdl}}}, status=status)

    app = web.Application()
    app.router.add_post("/graphql", handler)
    app[SEEN] = seen
    return app


async def test_introspection_reads_the_sdl_from_service(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_service_app(PRODUCTS_SDL))
    async with aiohttp.ClientSession() as session:
        sdl = await introspect_sdl(
            "products", str(server.make_url("/graphql")), session
        )
    assert sdl == PRODUCTS_SDL
    assert "_service" in server.app[SEEN][0]["query"]


@pytest.mark.parametrize(
    ("sdl", "status"), [(None, 200), ("", 200), (PRODUCTS_SDL, 500)]
)
async def test_introspection_failures_are_one_clear_error(
    aiohttp_server: Any, sdl: str | None, status: int
) -> None:
    server = await aiohttp_server(_service_app(sdl, status=status))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(GatewayError) as info:
            await introspect_sdl("products", str(server.make_url("/graphql")), session)
    assert info.value.code == "INTROSPECTION_FAILED"
    assert "products" in info.value.message


async def test_unreachable_introspection_names_the_subgraph_and_url() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(GatewayError) as info:
            await introspect_sdl("products", "http://127.0.0.1:1/graphql", session)
    assert "products" in info.value.message and "127.0.0.1:1" in info.value.message


async def test_rover_subgraph_url_and_schemaless_entries_are_introspected(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    products = await aiohttp_server(_service_app(PRODUCTS_SDL))
    reviews = await aiohttp_server(_service_app(REVIEWS_SDL))
    config_file = tmp_path / "supergraph.yaml"
    config_file.write_text(
        "federation_version: =2.3.2\n"
        "subgraphs:\n"
        "  products:\n"
        f"    routing_url: {products.make_url('/graphql')}\n"
        "    schema:\n"
        f"      subgraph_url: {products.make_url('/graphql')}\n"
        "  reviews:\n"
        f"    routing_url: {reviews.make_url('/graphql')}\n"
    )
    config = load_config(config_file)
    async with aiohttp.ClientSession() as session:
        supergraph = await compose_config(config, {}, session)
    assert supergraph.field("Product", "reviews") is not None
    assert supergraph.field("Query", "topProducts") is not None


def test_a_module_that_does_not_import_is_a_config_error(tmp_path: Path) -> None:
    config_file = tmp_path / "supergraph.yaml"
    config_file.write_text(
        "version: 1\nsubgraphs:\n  - name: a\n    module: no.such.module:factory\n"
    )
    with pytest.raises(ConfigError) as info:
        load_local_subgraphs(load_config(config_file))
    message = str(info.value)
    assert str(config_file) in message and ":3" in message
    assert "no.such.module" in message


async def test_in_process_modules_supply_their_own_sdl() -> None:
    config = load_config(Path(__file__).parent / "fixtures" / "shop.yaml")
    supergraph = await compose_config(config, load_local_subgraphs(config))
    assert set(supergraph.subgraphs) == {"products", "reviews"}
