"""Compiled gathering finds the objects, paths and representations that
``merge.collect`` and ``representation_of`` give, and copies shared data as they do."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gateway.execution.gather import Gathered, _json, compile_gather, path_of
from gateway.execution.merge import Ownership, collect, representation_of
from gateway.planner.nodes import RepresentationField

R = RepresentationField

REPRESENTATIONS: dict[str, tuple[RepresentationField, ...]] = {
    "Product": (R("__typename"), R("upc"), R("price", source="_price__alias")),
    "User": (R("__typename", value="Account"), R("id")),
    "Review": (
        R("__typename"),
        R("id"),
        R("author", (R("id"), R("name", optional=True))),
    ),
}
PATHS = [
    ("top",),
    ("top", "@"),
    ("top", "@", "items", "@"),
    ("top", "@", "items", "@", "owner"),
    ("grid", "@", "@"),
    ("one", "child"),
]


FLAT: dict[str, tuple[RepresentationField, ...]] = {
    "Product": (R("__typename"), R("upc"), R("price", source="_price__alias")),
    # Two types sent as one interface (@interfaceObject): equal ones are one.
    "User": (R("__typename", value="Account"), R("id")),
    "Review": (R("__typename", value="Account"), R("id")),
    "Other": (R("__typename"), R("upc")),
}


def reference(
    data: dict[str, Any],
    path: tuple[str, ...],
    owned: Ownership,
    representations_by_type: dict[str, tuple[RepresentationField, ...]] | None = None,
) -> tuple[list[Any], list[Any], list[list[Any]]]:
    """What the executor did before plans were compiled."""
    by_type = (
        REPRESENTATIONS
        if representations_by_type is None
        else (representations_by_type)
    )
    targets = collect(data, path, owned)
    representations: list[Any] = []
    fan_out: list[list[Any]] = []
    seen: dict[Any, int] = {}
    for obj, at in targets:
        fields = by_type.get(obj.get("__typename", ""))
        if fields is None:
            continue
        try:
            value = representation_of(obj, fields)
        except KeyError:
            continue
        marker: Any = tuple(value.values())
        try:
            index = seen.get(marker)
        except TypeError:
            marker = orjson.dumps(value)
            index = seen.get(marker)
        if index is None:
            seen[marker] = len(representations)
            representations.append(value)
            fan_out.append([(obj, list(at))])
        else:
            fan_out[index].append((obj, list(at)))
    return [(obj, list(at)) for obj, at in targets], representations, fan_out


def compiled(found: Gathered) -> tuple[list[Any], list[Any], list[list[Any]]]:
    def paths(targets: list[Any]) -> list[Any]:
        return [(target[0], path_of(found.path, target)) for target in targets]

    return (
        paths(found.targets),
        found.representations,
        [paths(targets) for targets in found.fan_out],
    )


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.1:
        return rng.choice([None, 1, "x", [1], {"a": 1}])
    if roll < 0.45:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    obj: dict[str, Any] = {}
    type_name = rng.choice(["Product", "User", "Review", "Other", None])
    if type_name is not None:
        obj["__typename"] = type_name
    for key, choices in (
        ("upc", ["1", "2", ["unhashable"]]),
        ("_price__alias", [10, 20]),
        ("id", ["1", "2", 3]),
        ("author", [{"id": "1"}, {"id": "2", "name": "n"}, [{"id": "3"}], {}]),
    ):
        if rng.random() < 0.8:
            obj[key] = copy.deepcopy(rng.choice(choices))
    for key in ("top", "items", "owner", "grid", "one", "child"):
        if rng.random() < 0.5:
            obj[key] = random_value(rng, depth + 1)
    return obj


def along(rng: random.Random, path: tuple[str, ...]) -> Any:
    """Data that mostly follows ``path``, with noise at every step."""
    if rng.random() < 0.1:
        return random_value(rng, 3)
    if not path:
        return random_value(rng, 4) if rng.random() < 0.2 else entity(rng)
    if path[0] == "@":
        return [along(rng, path[1:]) for _ in range(rng.randint(0, 3))]
    return {**entity(rng), path[0]: along(rng, path[1:])}


def trees(path: tuple[str, ...], count: int = 300) -> Iterator[dict[str, Any]]:
    """Random answers, one per seed: most along ``path``, every tenth anything."""
    for seed in range(count):
        rng = random.Random(seed)
        data = random_value(rng, 0) if seed % 10 == 0 else along(rng, path)
        if isinstance(data, dict):
            yield data


def entity(rng: random.Random) -> dict[str, Any]:
    value = random_value(rng, 3)
    while not isinstance(value, dict):
        value = random_value(rng, 3)
    return value


@pytest.mark.parametrize("path", PATHS, ids=[".".join(p) for p in PATHS])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("flat", [False, True], ids=["nested", "flat"])
def test_gather_finds_what_collect_and_representation_of_find(
    path: tuple[str, ...], shared: bool, flat: bool
) -> None:
    by_type = FLAT if flat else REPRESENTATIONS
    gather = compile_gather(path, by_type)
    found_any = 0
    for data in trees(path):
        before = copy.deepcopy(data)
        expected_data, actual_data = copy.deepcopy(data), copy.deepcopy(data)
        expected = reference(
            expected_data, path, Ownership(expected_data, shared=shared), by_type
        )
        owned = Ownership(actual_data, shared=shared)
        actual = compiled(gather.run(actual_data, owned.own if shared else None))
        # The same objects (compared by value: each side has its own copy), in the
        # same order, at the same paths, with the same representations.
        assert repr(actual) == repr(expected)
        assert actual_data == expected_data == before
        found_any += len(actual[1])
    assert found_any > 30  # the data did reach representations


def test_shared_containers_are_copied_before_they_are_handed_out() -> None:
    shared = {"top": [{"__typename": "Product", "upc": "1", "_price__alias": 2}]}
    frozen = copy.deepcopy(shared)
    data: dict[str, Any] = dict(shared)
    owned = Ownership(data, shared=True)
    found = compile_gather(("top", "@"), REPRESENTATIONS).run(data, owned.own)
    [target] = found.targets
    obj = target[0]
    obj["name"] = "changed"
    assert shared == frozen
    assert data["top"][0] is obj
    assert path_of(found.path, target) == ["top", 0]
    assert found.representations == [{"__typename": "Product", "upc": "1", "price": 2}]


def test_equal_representations_are_sent_once_and_fan_out_to_every_object() -> None:
    data = {
        "top": [
            {"__typename": "User", "id": "1"},
            {"__typename": "User", "id": "2"},
            {"__typename": "User", "id": "1"},
        ]
    }
    found = compile_gather(("top", "@"), REPRESENTATIONS).run(data, None)
    assert found.representations == [
        {"__typename": "Account", "id": "1"},
        {"__typename": "Account", "id": "2"},
    ]
    assert [[t[1:] for t in targets] for targets in found.fan_out] == [
        [(0,), (2,)],
        [(1,)],
    ]


STARTS = [
    (prefix, path)
    for path in PATHS
    for prefix in PATHS
    if len(prefix) <= len(path)
    and path[: len(prefix)] == prefix
    and (len(prefix) == len(path) or path[len(prefix)] != "@")
]
PROPER_STARTS = [(prefix, path) for prefix, path in STARTS if prefix != path]


def _ids(starts: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> list[str]:
    return [f"{'.'.join(a)}->{'.'.join(b)}" for a, b in starts]


@pytest.mark.parametrize(("prefix", "path"), STARTS, ids=_ids(STARTS))
def test_a_walk_that_starts_from_objects_found_before_finds_what_a_fresh_walk_finds(
    prefix: tuple[str, ...], path: tuple[str, ...]
) -> None:
    earlier = compile_gather(prefix, REPRESENTATIONS)
    later = compile_gather(path, REPRESENTATIONS, (prefix,) if prefix != path else ())
    fresh = compile_gather(path, REPRESENTATIONS)
    started = 0
    for data in trees(path):
        found: dict[tuple[str, ...], list[Any]] = {}
        first = earlier.run(data, None, found)
        assert found == {prefix: first.targets}
        actual = later.run(data, None, found)
        assert repr(compiled(actual)) == repr(compiled(fresh.run(data, None)))
        assert found[path] is actual.targets
        if prefix == path:  # the same objects, found once
            assert actual.targets is first.targets or actual.targets == first.targets
        started += len(first.targets)
    assert started > 30  # the earlier walks did find objects to start from


def test_a_walk_starts_from_the_longest_path_found_before() -> None:
    data = {
        "top": [
            {"__typename": "Other", "items": [{"__typename": "User", "id": "1"}]},
            {"__typename": "Other", "items": [{"__typename": "User", "id": "2"}]},
        ]
    }
    deep = ("top", "@", "items", "@")
    gather = compile_gather(deep, REPRESENTATIONS, (("top", "@"),))
    # What was found at top.@ is where the walk starts, even if the data has
    # changed since: keeping it valid is the caller's part (PlanProgram.merged).
    found: dict[tuple[str, ...], list[Any]] = {("top", "@"): [(data["top"][1], 1)]}
    result = gather.run(data, None, found)
    assert result.representations == [{"__typename": "Account", "id": "2"}]
    assert [path_of(deep, t) for t in result.targets] == [["top", 1, "items", 0]]
    assert found[deep] is result.targets
    # Without anything found before: from the root.
    assert len(gather.run(data, None, {}).targets) == 2


@pytest.mark.parametrize(("prefix", "path"), PROPER_STARTS, ids=_ids(PROPER_STARTS))
def test_a_walk_keeps_what_it_passes_at_the_paths_other_gathers_start_from(
    prefix: tuple[str, ...], path: tuple[str, ...]
) -> None:
    deep = compile_gather(path, REPRESENTATIONS, (prefix,))
    shallow = compile_gather(prefix, REPRESENTATIONS)
    kept = 0
    for data in trees(path):
        found: dict[tuple[str, ...], list[Any]] = {}
        result = deep.run(data, None, found)
        assert repr(compiled(result)) == repr(compiled(deep.run(data, None)))
        assert found[path] is result.targets
        if prefix in found:  # absent only when the walk ended before the loops
            expected = shallow.run(data, None).targets
            assert [t[1:] for t in found[prefix]] == [t[1:] for t in expected]
            assert all(
                a[0] is b[0] for a, b in zip(found[prefix], expected, strict=True)
            )
            kept += len(expected)
        else:
            assert shallow.run(data, None).targets == []
    assert kept > 30


def test_objects_are_the_same_only_as_the_same_json() -> None:
    # The comparison behind sharing: types and key order count; what JSON cannot
    # say is never the same as anything.
    assert _json({"a": 1, "b": [True]}) == _json({"a": 1, "b": [True]})
    assert _json({"a": True}) != _json({"a": 1})
    assert _json({"a": 1}) != _json({"a": 1.0})
    assert _json({"a": 1, "b": 2}) != _json({"b": 2, "a": 1})
    assert _json({"a": {1, 2}}) == b""
    assert _json({1: "a"}) == b""


def with_repeats(value: Any, rng: random.Random) -> Any:
    """``value`` with some objects in its lists there more than once (the same
    object, as sharing equal objects leaves them)."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = with_repeats(item, rng)
    elif isinstance(value, list):
        for number, item in enumerate(value):
            value[number] = with_repeats(item, rng)
        objects = [item for item in value if isinstance(item, dict)]
        for _ in range(rng.randint(0, 2) if objects else 0):
            value.insert(rng.randint(0, len(value)), rng.choice(objects))
    return value


@pytest.mark.parametrize(("prefix", "path"), PROPER_STARTS, ids=_ids(PROPER_STARTS))
def test_a_walk_from_an_object_met_again_finds_what_walking_it_again_finds(
    prefix: tuple[str, ...], path: tuple[str, ...]
) -> None:
    # A walk from objects found before remembers what it found below each one;
    # meeting the same object again, it gives that under the new indices.
    earlier = compile_gather(prefix, REPRESENTATIONS)
    later = compile_gather(path, REPRESENTATIONS, (prefix,))
    fresh = compile_gather(path, REPRESENTATIONS)
    deep = compile_gather((*path, "items", "@"), REPRESENTATIONS, (prefix, path))
    repeated = 0
    for seed, data in enumerate(trees(path)):
        data = with_repeats(data, random.Random(seed))
        found: dict[tuple[str, ...], list[Any]] = {}
        starts = earlier.run(data, None, found).targets
        actual = later.run(data, None, found)
        assert repr(compiled(actual)) == repr(compiled(fresh.run(data, None)))
        # What it keeps for later walks is what walking from the root keeps.
        found = {prefix: starts}
        deep.run(data, None, found)
        assert [t[1:] for t in found[path]] == [
            t[1:] for t in fresh.run(data, None).targets
        ]
        repeated += len(starts) - len({id(t[0]) for t in starts})
    assert repeated > 30  # objects were met again
