"""Gathering: the objects at an entity fetch's path and their representations, in one
compiled pass.

For each entity fetch (or each part of a merged one) a function is generated when
the plan is built: nested loops down the fetch path (``"@"``: every list item), and
at each object found, a dispatch on ``__typename`` and the representation built
inline from the key and required fields (a nested field set calls
``merge.representation_of``), deduplicated on the spot. It does what
``merge.collect`` followed by ``representation_of`` per object does, in the same
order, without building a path per object: each object keeps only the tuple of
its list indices, and ``path_of`` makes the response path from it when an error
needs one. When the run's data holds shared answers, containers on the way are
copied into place first (``merge.Ownership``).

Walks are reused within a run: the objects found at a path are kept (``Found``),
and a later gather at the same path, or at a path that extends it, starts from
them instead of from the root. A merge that may change what lies at a kept path
(an answer with a key that is the path's next step, merged at one of its prefixes)
drops it first (``PlanProgram.merged``); runs that hold shared answers keep nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.execution.merge import representation_of
from gateway.planner.nodes import RepresentationField

__all__ = ["Found", "Gather", "Gathered", "compile_gather", "path_of"]

Target = tuple[Any, ...]
"""An object found at the path, then the indices of the lists on its way:
``(object, index, ...)``."""

Found = dict[tuple[str, ...], list[Target]]
"""The objects one run found at each path it gathered, while they are still what a
walk down that path would find."""


class Gathered:
    """What one gather found: every object at the path (``targets``), the
    deduplicated ``representations``, and for each the objects it stands for
    (``fan_out``)."""

    __slots__ = ("fan_out", "path", "representations", "shared", "targets")

    def __init__(
        self,
        path: tuple[str, ...],
        targets: list[Target],
        representations: list[Any],
        fan_out: list[list[Target]],
        shared: bool = False,
    ) -> None:
        self.path = path
        self.targets = targets
        self.representations = representations
        self.fan_out = fan_out
        self.shared = shared
        """Whether equal objects were made one (``Gather.share``)."""


class Gather:
    """The compiled gather of one entity fetch (or part): ``run(data, own)``.

    ``own`` is ``Ownership.own`` when the run's data may hold shared containers
    (copied into place on the way down), else ``None``. The variant for shared data
    is compiled when it is first needed (only identical fetches in flight share
    answers)."""

    __slots__ = (
        "_from",
        "_own",
        "_shared",
        "path",
        "prefixes",
        "representation",
        "share",
        "source_size",
    )

    def __init__(
        self,
        path: tuple[str, ...],
        representation: Mapping[str, tuple[RepresentationField, ...]],
        prefixes: tuple[tuple[str, ...], ...] = (),
        share: bool = False,
    ) -> None:
        self.path = path
        self.representation = representation
        self.prefixes = prefixes
        """Paths other gathers of the plan keep that this one may start from
        (longest first): proper prefixes of ``path`` ending at an object."""
        self.share = share
        """Equal objects found at the path become one (the same JSON, ``_json``):
        the plan allows it here (``program.compile_plan``)."""
        self._own, self.source_size = _compile(
            path, representation, shared=False, share=share
        )
        self._shared: Callable[[dict[str, Any], Any], Gathered] | None = None
        self._from: dict[int | None, Callable[[Any, Found], Gathered]] = {}
        """By the length of the path already walked: the gather that goes on from
        the objects found there (compiled when first needed)."""

    def run(
        self,
        data: dict[str, Any],
        own: Callable[[Any], Any] | None,
        found: Found | None = None,
    ) -> Gathered:
        """The objects at the path in ``data``, and their representations.

        ``found``: the objects the run found at paths it gathered before and that
        are still there; a walk starts from the longest of them on the way, and
        what this one finds is added. Not with ``own`` (shared data)."""
        if own is not None:
            shared = self._shared
            if shared is None:
                shared, _ = _compile(self.path, self.representation, shared=True)
                self._shared = shared
            return shared(data, own)
        if found is None:
            return self._own(data)
        start = found.get(self.path)
        if start is not None:
            gathered = self._going_on(len(self.path))(start, found)
        else:
            for prefix in self.prefixes:
                start = found.get(prefix)
                if start is not None:
                    gathered = self._going_on(len(prefix))(start, found)
                    break
            else:
                gathered = self._going_on(None)(data, found)
        found[self.path] = gathered.targets
        if gathered.shared:
            # What was found below, in the objects now replaced, is not where a
            # walk would find it: later gathers below walk again.
            path, depth = self.path, len(self.path)
            for kept in [k for k in found if len(k) > depth and k[:depth] == path]:
                del found[kept]
        return gathered

    def _going_on(self, walked: int | None) -> Callable[[Any, Found], Gathered]:
        """The gather that goes on from the objects found at ``path[:walked]``
        (``None``: from the root), keeping what it passes at ``prefixes``."""
        function = self._from.get(walked)
        if function is None:
            function, _ = _compile(
                self.path,
                self.representation,
                shared=False,
                walked=walked,
                keep=tuple(
                    prefix for prefix in self.prefixes if len(prefix) > (walked or 0)
                ),
                found=True,
                share=self.share,
            )
            self._from[walked] = function
        return function


def path_of(path: tuple[str, ...], target: Target) -> list[str | int]:
    """The response path of an object ``target`` found at ``path``."""
    out: list[str | int] = []
    indices = target
    position = 1
    for segment in path:
        if segment == "@":
            out.append(indices[position])
            position += 1
        else:
            out.append(segment)
    return out


def _marker(representation: dict[str, Any]) -> Any:
    """A hashable stand-in for a representation whose values are not hashable."""
    return orjson.dumps(representation)


def _flat(fields: tuple[RepresentationField, ...]) -> bool:
    return all(f.selection is None and not f.optional for f in fields)


def _json(value: dict[str, Any]) -> bytes:
    """``value`` as JSON, to tell whether two objects are the same: the same JSON,
    keys in the same order, is the same values of the same types (``true`` is not
    ``1``, nor ``1.0``) all the way down, so completing either gives the same.
    Anything JSON cannot say (another kind of key or value) gives ``b""``, which is
    the same as nothing."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError too
        return b""


def compile_gather(
    path: tuple[str, ...],
    representation: Mapping[str, tuple[RepresentationField, ...]],
    prefixes: tuple[tuple[str, ...], ...] = (),
    share: bool = False,
) -> Gather:
    """The gather of one entity fetch (or part) at ``path``; ``prefixes``: the
    paths of ``Gather.prefixes``; ``share``: ``Gather.share``."""
    return Gather(path, representation, prefixes, share)


def _compile(
    path: tuple[str, ...],
    representation: Mapping[str, tuple[RepresentationField, ...]],
    *,
    shared: bool,
    walked: int | None = None,
    keep: tuple[tuple[str, ...], ...] = (),
    found: bool = False,
    share: bool = False,
) -> tuple[Callable[..., Gathered], int]:
    """``merge.collect`` of ``path``, then a representation per object found, as
    one function, and the size of its source. ``shared``: containers on the way
    are made the run's own first (``own``). ``walked``: the function starts from
    the targets found at ``path[:walked]`` (an object path), not from the root.
    ``keep``: paths on the way whose objects it adds to ``found``; the function
    takes ``found`` with ``walked``, ``keep`` or ``found``. ``share``: an object
    equal to the first one found with the same representation (the same JSON,
    ``_json``) is replaced by it in its container, so the plan's later merges and the completion
    (which completes an object once) do their work once (not for shared data, nor
    again at a path walked before: those objects were shared then)."""
    constants: dict[str, Any] = {"K_path": path}

    def constant(value: Any) -> str:
        name = f"K{len(constants)}"
        constants[name] = value
        return name

    share = share and not shared and not (walked is not None and walked == len(path))
    done = (
        "return Gathered(K_path, targets, representations, fan_out, shared)"
        if share
        else "return Gathered(K_path, targets, representations, fan_out)"
    )
    groups = _groups(representation)
    # Found at this very path before: the same objects, so the same list.
    again = walked is not None and walked == len(path)
    place = ""
    kept = {len(prefix): constant(prefix) for prefix in keep}
    takes_found = walked is not None or bool(keep) or found
    lines = [
        f"def gather({'start' if walked is not None else 'data'}"
        f"{', own' if shared else ''}{', found' if takes_found else ''}):",
        "    targets = start" if again else "    targets = []",
        *(("    shared = False", "    first_json = {}") if share else ()),
        "    representations = []",
        "    fan_out = []",
        *(
            f"    {name} = {{}}"
            for name in (["seen"] if groups is None else sorted(set(groups.values())))
        ),
    ]
    lines += [f"    kept{length} = []" for length in kept]
    # A walk from objects found before can meet the same object again (one that
    # equal ones became, ``share``): what a walk below it finds is then what the
    # first walk below it found, under this start's indices.
    memo = walked is not None and not again and not shared and "@" in path[walked:]
    if memo:
        lines.append("    walks = {}")
    kept_slots = {length: number for number, length in enumerate(kept, 1)}
    indent = "    "
    indices: list[str] = []
    start_indices: list[str] = []
    if walked is None:
        first = 0
        fail = done  # outside any loop, a dead end ends the walk
        wanted = "list" if path and path[0] == "@" else "dict"
        lines.append(f"{indent}if type(data) is not {wanted}:")
        lines.append(f"{indent}    {fail}")
        current = "data"
    else:
        # Each target found at path[:walked] is where the walk would be after
        # walked steps: its object, then the indices of the lists on the way.
        first = walked
        fail = "continue"
        current = f"x{walked - 1}" if walked else "data"
        indices = [f"i{depth}" for depth in range(walked) if path[depth] == "@"]
        lines.append(f"{indent}for start_target in start:")
        indent += "    "
        if again:  # the indices stay in the target as they are
            lines.append(f"{indent}{current} = start_target[0]")
        else:
            lines.append(f"{indent}{', '.join([current, *indices])}, = start_target")
        start_indices = list(indices)
        if memo:
            prefix = "".join(f"{i}, " for i in start_indices)
            lines += [
                f"{indent}walk = walks.get(id({current}))",
                f"{indent}if walk is not None:",
                f"{indent}    for obj, suffix, slot in walk[0]:",
                f"{indent}        target = (obj, {prefix}) + suffix",
                f"{indent}        targets.append(target)",
                f"{indent}        if slot is not None:",
                f"{indent}            fan_out[slot].append(target)",
                *(
                    line
                    for length, number in kept_slots.items()
                    for line in (
                        f"{indent}    for obj, suffix in walk[{number}]:",
                        f"{indent}        kept{length}.append((obj, {prefix}) + suffix)",
                    )
                ),
                f"{indent}    continue",
                f"{indent}walk = walks[id({current})] = "
                f"({'[], ' * (1 + len(kept_slots))})",
            ]
    for depth, segment in enumerate(path):
        if depth < first:
            continue
        item = f"x{depth}"
        if segment == "@":
            index = f"i{depth}"
            indices.append(index)
            lines.append(f"{indent}for {index}, {item} in enumerate({current}):")
            indent += "    "
            fail = "continue"
            place = f"{current}[{index}]"
        else:
            lines.append(f"{indent}{item} = {current}.get({segment!r})")
            place = f"{current}[{segment!r}]"
        if shared:
            lines += [
                f"{indent}if type({item}) is dict or type({item}) is list:",
                f"{indent}    {item} = {place} = own({item})",
            ]
        wanted = "list" if depth + 1 < len(path) and path[depth + 1] == "@" else "dict"
        lines += [f"{indent}if type({item}) is not {wanted}:", f"{indent}    {fail}"]
        current = item
        if depth + 1 in kept:  # what a gather at this path would find
            lines.append(
                f"{indent}kept{depth + 1}.append("
                f"({item}, {''.join(f'{i}, ' for i in indices)}))"
            )
            if memo:
                suffix = "".join(f"{i}, " for i in indices[len(start_indices) :])
                lines.append(
                    f"{indent}walk[{kept_slots[depth + 1]}].append(({item}, ({suffix})))"
                )
    if again:
        lines.append(f"{indent}target = start_target")
    else:
        lines += [
            f"{indent}target = ({current}, {''.join(f'{i}, ' for i in indices)})",
            f"{indent}targets.append(target)",
        ]
    if memo:
        lines.append(f"{indent}slot = None")
    lines.append(f"{indent}type_name = {current}.get('__typename', '')")
    keyword = "if"
    for type_name, fields in representation.items():
        lines.append(f"{indent}{keyword} type_name == {type_name!r}:")
        keyword = "elif"
        seen = "seen" if groups is None else groups[type_name]
        lines += _representation(
            current,
            fields,
            constant,
            indent + "    ",
            seen,
            groups is not None,
            (place, ", ".join(indices)) if share and place else None,
            memo,
        )
    if memo:
        suffix = "".join(f"{i}, " for i in indices[len(start_indices) :])
        lines.append(f"{indent}walk[0].append((target[0], ({suffix}), slot))")
    lines += [f"    found[{name}] = kept{length}" for length, name in kept.items()]
    lines.append(f"    {done}")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        "Gathered": Gathered,
        "_marker": _marker,
        "_json": _json,
        "representation_of": representation_of,
        **constants,
    }
    where = "" if walked is None else f" from {walked}"
    exec(compile(source, f"<gather {'.'.join(path)}{where}>", "exec"), namespace)
    return namespace["gather"], len(source)


def _groups(
    representation: Mapping[str, tuple[RepresentationField, ...]],
) -> dict[str, str] | None:
    """When every representation is flat and starts with the ``__typename`` it
    sends, and has no other constant: by type, the name of the table of
    representations already made that its own can equal (those with as many fields
    and the same ``__typename`` sent); they are compared without that constant.
    ``None``: one table for all, compared on every value."""
    keys: dict[str, tuple[int, str]] = {}
    for type_name, fields in representation.items():
        if not fields or not _flat(fields):
            return None
        first = fields[0]
        if first.value is None and (first.source or first.name) != "__typename":
            return None
        if any(
            field.value is not None or (field.source or field.name) == "__typename"
            for field in fields[1:]
        ):
            return None
        keys[type_name] = (len(fields), first.value or type_name)
    names = {
        key: f"seen{number}" for number, key in enumerate(dict.fromkeys(keys.values()))
    }
    return {type_name: names[key] for type_name, key in keys.items()}


def _representation(
    obj: str,
    fields: tuple[RepresentationField, ...],
    constant: Callable[[Any], str],
    indent: str,
    seen: str = "seen",
    grouped: bool = False,
    share: tuple[str, str] | None = None,
    slot: bool = False,
) -> list[str]:
    """Code adding ``obj``'s representation (``merge.representation_of(obj,
    fields)``; none when a key is missing), or adding ``obj`` to the objects of
    an equal one already there (in the table ``seen``; ``grouped``: the table is
    of representations with the same first value, which the comparison leaves
    out). ``share``: where ``obj`` sits (its container's subscript) and the list
    indices on its way: an object equal to the first one with its representation
    is replaced by that one there. ``slot``: ``slot`` is set to the index of the
    representation the object went to (left alone when it has none)."""
    lines: list[str] = []
    if _flat(fields):
        # Every field is there or the object has no representation.
        names: list[str] = []
        for number, field in enumerate(fields):
            if field.value is not None:
                names.append(repr(field.value))
                continue
            if (field.source or field.name) == "__typename":
                names.append("type_name")  # read already, and it is there
                continue
            source = field.source or field.name
            lines.append(f"{indent}    r{number} = {obj}[{source!r}]")
            names.append(f"r{number}")
        entries = ", ".join(
            f"{field.name!r}: {name}" for field, name in zip(fields, names, strict=True)
        )
        build = f"{{{entries}}}"
        compared = names[1:] if grouped else names
        if len(compared) == 1 and grouped:
            marker = compared[0]  # the one value: no tuple to make and hash
        else:
            marker = f"({''.join(f'{n}, ' for n in compared)})"
    else:
        lines.append(f"{indent}    rep = representation_of({obj}, {constant(fields)})")
        build = "rep"
        marker = "tuple(rep.values())"
    if lines:
        lines = [
            f"{indent}try:",
            *lines,
            f"{indent}except KeyError:",
            f"{indent}    pass  # the parent fetch failed to deliver a key",
            f"{indent}else:",
        ]
        indent += "    "
    return [
        *lines,
        f"{indent}marker = {marker}",
        f"{indent}try:",
        f"{indent}    index = {seen}.get(marker)",
        f"{indent}except TypeError:  # nested or odd keys: compare them as JSON",
        f"{indent}    marker = _marker({build})",
        f"{indent}    index = {seen}.get(marker)",
        f"{indent}if index is None:",
        f"{indent}    {seen}[marker] = {'slot = ' if slot else ''}len(representations)",
        f"{indent}    representations.append({build})",
        f"{indent}    fan_out.append([target])",
        f"{indent}else:",
        *((f"{indent}    slot = index",) if slot else ()),
        *(
            (f"{indent}    fan_out[index].append(target)",)
            if share is None
            else (
                f"{indent}    group = fan_out[index]",
                f"{indent}    first = group[0][0]",
                f"{indent}    if first is not {obj}:",
                # The first's JSON is made once (``_json``): a repeated object
                # is compared by encoding it alone.
                f"{indent}        known = first_json.get(index)",
                f"{indent}        if known is None:",
                f"{indent}            known = first_json[index] = _json(first)",
                f"{indent}        if known and _json({obj}) == known:",
                f"{indent}            {share[0]} = first",
                f"{indent}            target = (first, {share[1]}{',' if share[1] else ''})",
                f"{indent}            targets[-1] = target",
                f"{indent}            shared = True",
                f"{indent}    group.append(target)",
            )
        ),
    ]
