"""Merging subgraph answers into the response data, and reading objects back out.

Entity results merge into the objects they came from; lists merge item by item.
``collect`` finds the objects at a plan path (``"@"``: every list item) and
``representation_of`` copies an entity's key and required fields out of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.planner.nodes import RepresentationField

__all__ = ["collect", "merge", "representation_of"]

_MISSING = object()
_Path = tuple[str | int, ...]


def merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """Deep-merge ``source`` into ``target`` (objects by key, lists item by item)."""
    for key, value in source.items():
        current = target.get(key, _MISSING)
        if current is _MISSING or current is None:
            target[key] = value
        elif type(current) is dict and type(value) is dict:
            merge(current, value)
        elif type(current) is list and type(value) is list:
            _merge_lists(current, value)
        else:
            target[key] = value


def _merge_lists(target: list[Any], source: list[Any]) -> None:
    if len(target) != len(source):
        target[:] = source
        return
    for index, (current, value) in enumerate(zip(target, source, strict=True)):
        if type(current) is dict and type(value) is dict:
            merge(current, value)
        elif type(current) is list and type(value) is list:
            _merge_lists(current, value)
        elif current is None:
            target[index] = value


def collect(
    data: dict[str, Any], path: tuple[str, ...]
) -> list[tuple[dict[str, Any], _Path]]:
    """The objects found at ``path`` (``"@"``: every list item; nulls skipped)."""
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
