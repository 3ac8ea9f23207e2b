"""Merging subgraph answers into the response data, and reading objects back out.

Entity results merge into the objects they came from; lists merge item by item.
``collect`` finds the objects at a plan path (``"@"``: every list item) and
``representation_of`` copies an entity's key and required fields out of them.

Subgraph answers may be shared: identical fetches in flight share one decoded body
(``gateway.transports.http``), and subscribers share an upstream event. So a run
never changes a container it did not make: ``Ownership`` knows the containers a
run made or copied, and ``merge`` and ``collect`` copy a shared one (shallowly, on
the way down) before they change it or hand it out to be changed (copy-on-write).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gateway.planner.nodes import RepresentationField

__all__ = ["Ownership", "collect", "merge", "merge_each", "representation_of"]

_MISSING = object()
_Path = tuple[str | int, ...]
_C = TypeVar("_C", dict[str, Any], list[Any])


class Ownership:
    """The containers one run may change: those it made, and its copies of shared
    ones. Holds them, so that their ids stay theirs for the run.

    Until ``share()`` (the run received an answer others hold too) everything in the
    run's data is its own and nothing is copied."""

    __slots__ = ("_mine", "active")

    def __init__(
        self, *roots: dict[str, Any] | list[Any], shared: bool = False
    ) -> None:
        self._mine: dict[int, Any] = {id(root): root for root in roots}
        self.active = shared
        """Whether the run's data may hold shared containers (copy on write)."""

    def share(self) -> None:
        """The run's data now holds containers others hold too."""
        self.active = True

    def own(self, value: _C) -> _C:
        """``value`` if the run may change it, else a shallow copy it may."""
        if not self.active or id(value) in self._mine:
            return value
        copy = value.copy()
        self._mine[id(copy)] = copy
        return copy


def merge(target: dict[str, Any], source: Mapping[str, Any], owned: Ownership) -> None:
    """Deep-merge ``source`` into ``target`` (objects by key, lists item by item).
    ``target`` is owned; what it holds is copied before it changes."""
    for key, value in source.items():
        current = target.get(key, _MISSING)
        if current is _MISSING or current is None:
            target[key] = value
        elif type(current) is dict and type(value) is dict:
            current = target[key] = owned.own(current)
            merge(current, value, owned)
        elif type(current) is list and type(value) is list:
            current = target[key] = owned.own(current)
            _merge_lists(current, value, owned)
        else:
            target[key] = value


def merge_each(
    targets: list[tuple[Any, ...]], source: Mapping[str, Any], owned: Ownership
) -> None:
    """``merge(target, source, owned)`` for the first item of each of ``targets``
    (one entity answers for several objects), once per object. A source of
    scalars only is set as it is: ``merge`` would set each of its keys anyway."""
    # The same object several times in a row: a gather made equal objects one
    # (``Gather.share``); it is merged into once.
    previous = None
    for value in source.values():
        if type(value) is dict or type(value) is list:
            for target in targets:
                if target[0] is not previous:
                    previous = target[0]
                    merge(previous, source, owned)
            return
    for target in targets:
        if target[0] is not previous:
            previous = target[0]
            previous.update(source)


def _merge_lists(target: list[Any], source: list[Any], owned: Ownership) -> None:
    if len(target) != len(source):
        target[:] = source
        return
    for index, (current, value) in enumerate(zip(target, source, strict=True)):
        if type(current) is dict and type(value) is dict:
            current = target[index] = owned.own(current)
            merge(current, value, owned)
        elif type(current) is list and type(value) is list:
            current = target[index] = owned.own(current)
            _merge_lists(current, value, owned)
        elif current is None:
            target[index] = value


def collect(
    data: dict[str, Any], path: tuple[str, ...], owned: Ownership
) -> list[tuple[dict[str, Any], _Path]]:
    """The objects found at ``path`` (``"@"``: every list item; nulls skipped),
    owned by the run (copied into place on the way down when shared), ready to be
    merged into. ``data`` is owned."""
    if not owned.active:
        return _collect_own(data, path)
    own: Callable[[Any], Any] = owned.own
    current: list[tuple[Any, _Path]] = [(data, ())]
    for segment in path:
        found: list[tuple[Any, _Path]] = []
        if segment == "@":
            for value, at in current:
                if type(value) is list:
                    for index, item in enumerate(value):
                        if type(item) is dict or type(item) is list:
                            item = value[index] = own(item)
                            found.append((item, (*at, index)))
        else:
            for value, at in current:
                if type(value) is dict:
                    item = value.get(segment)
                    if type(item) is dict or type(item) is list:
                        item = value[segment] = own(item)
                        found.append((item, (*at, segment)))
        current = found
    return [(value, at) for value, at in current if type(value) is dict]


def _collect_own(
    data: dict[str, Any], path: tuple[str, ...]
) -> list[tuple[dict[str, Any], _Path]]:
    """``collect`` when the run holds nothing shared: no copies."""
    current: list[tuple[Any, _Path]] = [(data, ())]
    for segment in path:
        found: list[tuple[Any, _Path]] = []
        if segment == "@":
            for value, at in current:
                if type(value) is list:
                    found.extend(
                        (item, (*at, index))
                        for index, item in enumerate(value)
                        if item is not None
                    )
        else:
            for value, at in current:
                if type(value) is dict:
                    item = value.get(segment)
                    if item is not None:
                        found.append((item, (*at, segment)))
        current = found
    return [(value, at) for value, at in current if type(value) is dict]


def representation_of(value: Any, fields: tuple[RepresentationField, ...]) -> Any:
    if type(value) is list:
        return [representation_of(item, fields) for item in value]
    if type(value) is not dict:
        return value
    out: dict[str, Any] = {}
    for field in fields:
        if field.value is not None:
            out[field.name] = field.value
            continue
        item = value.get(field.source or field.name, _MISSING)
        if item is _MISSING:
            if field.optional:
                continue
            raise KeyError(field.name)
        out[field.name] = (
            representation_of(item, field.selection) if field.selection else item
        )
    return out
