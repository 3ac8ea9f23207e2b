"""gateway.roots reaches the in-process subgraphs that declare ``@inherits("roots")``."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema

from gateway.config import Config, GatewayConfig, SubgraphConfig
from gateway.local import LocalSubgraph, inherits, load_local_subgraph
from gateway.local.settings import inherited_names, with_inherited
from gateway.startup import inherited_settings, load_local_subgraphs
from gateway.transports.base import RequestContext
from subgraphs.claude import ClaudeService

SEEN: list[Mapping[str, Any]] = []


def _local() -> LocalSubgraph:
    return LocalSubgraph(schema=build_schema("type Query { a: Int }"), sdl="")


@inherits("roots")
def _takes_roots(options: Mapping[str, Any]) -> LocalSubgraph:
    SEEN.append(options)
    return _local()


def _strict(options: Mapping[str, Any]) -> LocalSubgraph:
    if options:
        raise ValueError(f"unknown options {sorted(options)}")
    SEEN.append(options)
    return _local()


@pytest.fixture(autouse=True)
def module() -> Iterator[None]:
    fake = types.ModuleType("fake_inheriting")
    fake.takes_roots = _takes_roots  # type: ignore[attr-defined]
    fake.strict = _strict  # type: ignore[attr-defined]
    sys.modules["fake_inheriting"] = fake
    SEEN.clear()
    yield
    del sys.modules["fake_inheriting"]


def test_only_known_settings_can_be_inherited() -> None:
    with pytest.raises(TypeError, match="inheritable: roots"):
        inherits("token")
    assert inherited_names(_takes_roots) == frozenset({"roots"})
    assert inherited_names(_strict) == frozenset()


def test_own_options_win_over_the_gateways() -> None:
    options = {"roots": ["/mine"]}
    assert with_inherited(options, _takes_roots, {"roots": ["/gw"]}) is options
    assert with_inherited({}, _takes_roots, {"roots": ["/gw"]}) == {"roots": ["/gw"]}
    assert with_inherited({}, _strict, {"roots": ["/gw"]}) == {}


def test_the_loader_gives_gateway_roots_to_a_declaring_factory_only(
    tmp_path: Path,
) -> None:
    config = Config(
        path=None,
        subgraphs=(
            SubgraphConfig(name="fs", module="fake_inheriting:takes_roots"),
            SubgraphConfig(name="api", module="fake_inheriting:strict"),
        ),
        gateway=GatewayConfig(roots=(tmp_path,)),
    )
    load_local_subgraphs(config)
    assert SEEN == [{"roots": [str(tmp_path)]}, {}]


def test_without_gateway_roots_nothing_is_added() -> None:
    assert inherited_settings(Config(path=None, subgraphs=())) == {}
    load_local_subgraph("fake_inheriting:takes_roots", {}, inherited={})
    assert SEEN == [{}]


@pytest.mark.parametrize("module", ["subgraphs.claude", "subgraphs.git"])
def test_the_bundled_file_system_subgraphs_declare_roots(module: str) -> None:
    factory = importlib.import_module(module).create_subgraph
    assert inherited_names(factory) == {"roots"}


def test_gateway_roots_confine_the_claude_subgraph_unless_its_options_name_roots(
    tmp_path: Path,
) -> None:
    gateway_root = tmp_path / "gateway-root"
    own_root = tmp_path / "own-root"
    gateway_root.mkdir()
    own_root.mkdir()
    config = Config(
        path=None,
        subgraphs=(
            SubgraphConfig(
                name="claude",
                module="subgraphs.claude:create_subgraph",
                options={"db_path": str(tmp_path / "a.sqlite3")},
            ),
            SubgraphConfig(
                name="claude_own",
                module="subgraphs.claude:create_subgraph",
                options={
                    "db_path": str(tmp_path / "b.sqlite3"),
                    "roots": [str(own_root)],
                },
            ),
        ),
        gateway=GatewayConfig(roots=(gateway_root,)),
    )
    subgraphs = load_local_subgraphs(config)

    def roots(name: str) -> tuple[Path, ...]:
        context = subgraphs[name].context(RequestContext())
        assert isinstance(context, Mapping)
        service = context["service"]
        assert isinstance(service, ClaudeService)
        return service.config.roots

    assert roots("claude") == (gateway_root.resolve(),)
    assert roots("claude_own") == (own_root.resolve(),)
