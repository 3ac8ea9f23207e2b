"""Gateway-wide settings an in-process subgraph inherits: ``@inherits("roots")``.

``gateway.roots`` is one list of directories for every subgraph that touches the
file system. A factory declares that it takes it::

    @inherits("roots")
    def create_subgraph(options: Mapping[str, Any]) -> LocalSubgraph: ...

and the loader then puts the gateway's value in ``options["roots"]`` when the
subgraph's own ``options`` have no ``roots`` (its own value wins) and
``gateway.roots`` is set (unset: the subgraph's own default, the current directory).
The value is a list of absolute directory paths (strings), as a user would write it.
A factory that does not declare it never sees the key, so its unknown-option check
keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["INHERITABLE", "inherited_names", "inherits", "with_inherited"]

INHERITABLE: tuple[str, ...] = ("roots",)
"""The gateway settings a subgraph may inherit."""

_ATTRIBUTE = "__gateway_inherits__"

F = TypeVar("F", bound=Callable[..., Any])


def inherits(*names: str) -> Callable[[F], F]:
    """Declare the gateway settings (``INHERITABLE``) a factory takes as options."""
    unknown = sorted(set(names) - set(INHERITABLE))
    if unknown:
        raise TypeError(
            f"cannot inherit {', '.join(unknown)}; "
            f"inheritable: {', '.join(INHERITABLE)}"
        )

    def mark(factory: F) -> F:
        setattr(factory, _ATTRIBUTE, frozenset(names))
        return factory

    return mark


def inherited_names(factory: object) -> frozenset[str]:
    """What ``factory`` declared with ``@inherits``."""
    names: object = getattr(factory, _ATTRIBUTE, None)
    return names if isinstance(names, frozenset) else frozenset()


def with_inherited(
    options: Mapping[str, Any], factory: object, settings: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``options`` plus the ``settings`` that ``factory`` inherits and lacks."""
    missing = {
        name: settings[name]
        for name in inherited_names(factory)
        if name in settings and name not in options
    }
    return {**options, **missing} if missing else options
