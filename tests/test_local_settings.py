"""gateway.roots reaches the in-process subgraphs that declare ``@inherits("roots")``."""

from __future__ import annotations

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


def test_the_git_subgraph_declares_roots() -> None:
    import subgraphs.git

    assert inherited_names(subgraphs.git.create_subgraph) == {"roots"}
