"""Completion: merged subgraph data shaped into the client's response.

The response follows the client's selection (aliases, field order, ``__typename``)
and is completed against the client schema: a leaf value that is not a value of its
client type (an ``@inaccessible`` enum value, a string where an ``Int`` is due)
becomes null with an error at its path, as Apollo Router does; then null propagation
applies (https://spec.graphql.org/October2021/#sec-Handling-Field-Errors).

Plans run the compiled form of this (``gateway.execution.program``); this
interpreter is its reference, and what the tests compare it with.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLOutputType

from gateway.planner.nodes import ShapeField, ShapeSelection

__all__ = ["complete"]

_NULL = object()
"""A non-null field is null: its parent becomes null (propagates upwards)."""

_Link = tuple[Any, str | int] | None
"""A response path while shaping: ``(parent link, key)``, built without copying."""


def _path_of(link: _Link) -> list[str | int]:
    path: list[str | int] = []
    while link is not None:
        link, key = link
        path.append(key)
    path.reverse()
    return path


def complete(
    shape: ShapeSelection, data: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """Shape merged ``data`` to the client's selection, with null propagation;
    completion errors are appended to ``errors``."""
    completed = _object(shape, data, None, errors)
    body: dict[str, Any] = {"data": None if completed is _NULL else completed}
    if errors:
        body["errors"] = errors
    return body


def _object(
    shape: ShapeSelection,
    value: dict[str, Any],
    path: _Link,
    errors: list[dict[str, Any]],
) -> Any:
    if shape.abstract:
        type_name = value.get("__typename")
        fields = shape.fields_by_type.get(type_name) if type(type_name) is str else None
        if fields is None:
            errors.append(
                {
                    "message": f"a subgraph returned {type_name!r}, which is not "
                    f"a possible type of {shape.type_name}",
                    "path": _path_of(path),
                    "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
                }
            )
            return None
    else:
        type_name = shape.type_name
        fields = shape.fields_by_type[type_name]
    out: dict[str, Any] = {}
    for field in fields:
        key = field.response_key
        if field.leaf:
            item = value.get(field.data_key)
            if item is not None and field.check is not None and not field.check(item):
                errors.append(_bad_leaf((path, key), field))
                item = None
            if item is None and field.non_null:
                _null_error((path, key), errors, field)
                return _NULL
            out[key] = item
        elif field.name == "__typename":
            out[key] = type_name
        elif field.local:
            out[key] = value.get(field.data_key)
        else:
            completed = _value(
                field.type, field, value.get(field.data_key), (path, key), errors
            )
            if completed is _NULL:
                return _NULL
            out[key] = completed
    return out


def _value(
    type_: GraphQLOutputType,
    field: ShapeField,
    value: Any,
    path: _Link,
    errors: list[dict[str, Any]],
) -> Any:
    if isinstance(type_, GraphQLNonNull):
        completed = _nullable(type_.of_type, field, value, path, errors)
        if completed is None:
            _null_error(path, errors, field)
            return _NULL
        return completed
    completed = _nullable(type_, field, value, path, errors)
    return None if completed is _NULL else completed


def _nullable(
    type_: GraphQLOutputType,
    field: ShapeField,
    value: Any,
    path: _Link,
    errors: list[dict[str, Any]],
) -> Any:
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        if type(value) is not list:
            errors.append(_bad_value(path, "a list"))
            return None
        items = []
        item_type = type_.of_type
        selection = field.selection
        if (
            selection is None
            and field.check is None
            and not isinstance(item_type, (GraphQLNonNull, GraphQLList))
        ):
            return value  # a list of nullable custom scalars: nothing to check
        for index, item in enumerate(value):
            if (
                selection is not None
                and type(item) is dict
                and (not isinstance(item_type, (GraphQLNonNull, GraphQLList)))
            ):
                completed = _object(selection, item, (path, index), errors)
                items.append(None if completed is _NULL else completed)
                continue
            completed = _value(item_type, field, item, (path, index), errors)
            if completed is _NULL:
                return _NULL
            items.append(completed)
        return items
    if field.selection is None:
        if field.check is not None and not field.check(value):
            errors.append(_bad_leaf(path, field))
            return None
        return value
    if type(value) is not dict:
        errors.append(_bad_value(path, "an object"))
        return None
    return _object(field.selection, value, path, errors)


def _bad_value(path: _Link, expected: str) -> dict[str, Any]:
    return {
        "message": f"a subgraph returned a value that is not {expected}",
        "path": _path_of(path),
        "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
    }


def _bad_leaf(path: _Link, field: ShapeField) -> dict[str, Any]:
    """A subgraph value that is not a value of the client's type (Apollo Router
    nulls it too)."""
    return {
        "message": f"a subgraph returned an invalid value for "
        f"{field.parent_type}.{field.name} (type {field.type})",
        "path": _path_of(path),
        "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
    }


def _null_error(path: _Link, errors: list[dict[str, Any]], field: ShapeField) -> None:
    here = _path_of(path)
    for error in errors:
        other = error.get("path")
        if isinstance(other, list):
            size = min(len(other), len(here))
            if other[:size] == here[:size]:
                return  # already explained by a subgraph error on this branch
    errors.append(
        {
            "message": "Cannot return null for non-null field "
            f"{field.parent_type}.{field.name}.",
            "path": here,
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    )
