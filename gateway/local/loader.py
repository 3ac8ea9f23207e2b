"""Load an in-process subgraph from ``module: package.module:factory``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from gateway.errors import ConfigError
from gateway.local.settings import with_inherited
from gateway.local.subgraph import LocalSubgraph, SubgraphFactory

__all__ = ["load_local_subgraph"]


def load_local_subgraph(
    target: str,
    options: Mapping[str, Any],
    *,
    where: str = "<config>",
    inherited: Mapping[str, Any] | None = None,
) -> LocalSubgraph:
    """Import ``package.module:attribute`` and call it with ``options``.

    The attribute may also be a ``LocalSubgraph`` itself (then ``options`` must be
    empty). ``inherited`` are gateway settings (``roots``) added to ``options`` for a
    factory that declares them (``gateway.local.settings``) and lacks them. Import
    and factory failures become a ``ConfigError``.
    """
    module_name, _, attribute = target.partition(":")
    attribute = attribute or "create_subgraph"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}") from exc
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if isinstance(obj, LocalSubgraph):
        if options:
            raise ConfigError(f"{target} is not a factory; it takes no options")
        return obj
    if not callable(obj):
        raise ConfigError(f"{target} is neither a LocalSubgraph nor a factory")
    factory = cast(SubgraphFactory, obj)
    options = with_inherited(options, obj, inherited or {})
    try:
        local = factory(options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{target}: {exc}") from exc
    if not isinstance(local, LocalSubgraph):
        raise ConfigError(
            f"{target} returned {type(local).__name__}, not LocalSubgraph"
        )
    return local
