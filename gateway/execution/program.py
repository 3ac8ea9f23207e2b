"""Completion programs: a plan's response shape compiled once into Python functions.

``gateway.execution.completion`` interprets a ``ShapeSelection`` for every object of
every response. A ``CompletionProgram`` does the same work without interpreting:
when a plan is built, its shape is turned into Python source (one function per
selection and concrete type, one per list level) and compiled, so a request only
runs straight-line code: ``value.get`` of each data key, the leaf checks the client
types call for (inlined), null checks only for non-null fields, abstract types
dispatched on ``__typename`` through a dict, and each object built in one dict
display. Paths are kept as links and made into lists only for an error, and the
errors, their order and null propagation are those of ``completion``, which stays
the reference (the tests compare the two on every scenario). The idea is that of
graphql-jit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from math import isfinite
from typing import Any

from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from gateway.execution.completion import (
    _NULL,
    _bad_leaf,
    _bad_value,
    _null_error,
    _path_of,
)
from gateway.execution.gather import Found, Gather, Gathered, compile_gather
from gateway.planner.nodes import (
    EntityPart,
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    Sequence,
    ShapeField,
    ShapeSelection,
    Subscription,
)
from gateway.planner.shape import CHECK_EXPRESSIONS, EnumCheck

__all__ = ["PROGRAM_BYTES_PER_CHAR", "PlanProgram", "compile_plan"]

PROGRAM_BYTES_PER_CHAR = 2
"""Estimated memory of a compiled program per character of its source (code
objects, their constants and the functions), for the plan cache's byte bound
(measured with tracemalloc: 1.3 for The Guild's heavy query)."""

_Complete = Callable[[Any, Any, list[dict[str, Any]]], Any]


def _not_possible(
    type_name: Any, abstract: str, path: Any, errors: list[dict[str, Any]]
) -> None:
    errors.append(
        {
            "message": f"a subgraph returned {type_name!r}, which is not "
            f"a possible type of {abstract}",
            "path": _path_of(path),
            "extensions": {"code": "SUBGRAPH_BAD_RESPONSE"},
        }
    )


_Below = dict[str, tuple[tuple[str, ...], ...]]
"""For a path where answers merge: the paths of the plan's gathers that go on
below it, by the key they take next."""


class PlanProgram:
    """A plan compiled: the completion of its response shape, and the gather
    function of each of its entity fetches (``gateway.execution.gather``)."""

    __slots__ = (
        "_below",
        "_gathers",
        "_memos",
        "_root",
        "_shared_root",
        "source_size",
    )

    def __init__(
        self,
        root: _Complete,
        gathers: dict[int, Gather],
        source_size: int,
        below: dict[tuple[str, ...], _Below] | None = None,
        shared_root: _Complete | None = None,
        memos: tuple[dict[int, Any], ...] = (),
    ) -> None:
        self._root = root
        self._shared_root = shared_root
        """The completion for runs whose gathers made equal objects one: an object
        at such a path is completed once (``Gather.share``)."""
        self._memos = memos
        """Its tables of objects completed once (by ``id``): filled while a
        response is completed, emptied after it."""
        self._gathers = gathers
        self.source_size = source_size
        """Characters of generated Python source (for the size estimate)."""
        self._below = below or {}
        """By each path where the plan merges answers (``()``: root fetches)."""

    @property
    def nbytes(self) -> int:
        """Estimated memory, for byte-bounded caches."""
        return PROGRAM_BYTES_PER_CHAR * self.source_size

    def complete(
        self,
        data: dict[str, Any],
        errors: list[dict[str, Any]],
        shared: bool = False,
    ) -> dict[str, Any]:
        """``completion.complete(shape, data, errors)``, compiled. ``shared``: a
        gather of the run made equal objects one."""
        if shared and self._shared_root is not None:
            # Completion never awaits: the tables serve one response at a time.
            try:
                completed = self._shared_root(data, None, errors)
            finally:
                for memo in self._memos:
                    memo.clear()
        else:
            completed = self._root(data, None, errors)
        body: dict[str, Any] = {"data": None if completed is _NULL else completed}
        if errors:
            body["errors"] = errors
        return body

    def gather(self, node: Fetch | EntityPart) -> Gather:
        """The gather function of an entity fetch (or part) of the plan."""
        gather = self._gathers.get(id(node))
        if gather is None:  # not reached from the plan's root: compile it now
            gather = compile_gather(node.path, node.representation)
        return gather

    def run_gather(
        self,
        node: Fetch | EntityPart,
        data: dict[str, Any],
        own: Callable[[Any], Any] | None,
        found: Found,
    ) -> Gathered:
        """``Gather.run`` of ``node``'s gather, starting from what the run found
        before (``found``) when it may."""
        gather = self._gathers.get(id(node))
        if gather is None:  # not reached from the plan's root: nothing to reuse
            return compile_gather(node.path, node.representation).run(data, own)
        return gather.run(data, own, found)

    def merged(
        self, found: Found, path: tuple[str, ...], values: Iterable[Any]
    ) -> None:
        """Answers ``values`` were merged into the objects at ``path``: forget what
        was found below it wherever one of them has the key the walk takes next
        (the merge may have changed what is there)."""
        if not found:
            return
        below = self._below.get(path)
        if below is None:  # a path the plan does not merge at: forget everything
            found.clear()
            return
        for segment, paths in below.items():
            for value in values:
                if type(value) is dict and segment in value:
                    for kept in paths:
                        found.pop(kept, None)
                    break


def compile_plan(shape: ShapeSelection, node: PlanNode | None) -> PlanProgram:
    """The program of a plan (built once per plan)."""
    parts = [
        part for fetch in _entity_fetches(node) for part in fetch.parts or (fetch,)
    ]
    sharing = _sharing(node)
    root, size, _ = _completion(shape, frozenset())
    shared_root: _Complete | None = None
    memos: tuple[dict[int, Any], ...] = ()
    if sharing:
        # The variant that completes an object once, for runs whose gathers made
        # equal objects one (``_Run.shared``); the other runs pay nothing for it.
        shared_root, shared_size, memos = _completion(
            shape, frozenset(sharing.values())
        )
        size += shared_size
    gathers: dict[int, Gather] = {}
    paths = {part.path for part in parts}
    for part in parts:
        gather = compile_gather(
            part.path,
            part.representation,
            _prefixes(part.path, paths),
            share=id(part) in sharing,
        )
        gathers[id(part)] = gather
        # Its variants: for shared data, and from each place a walk may start.
        size += (4 + len(gather.prefixes)) * gather.source_size
    below = {at: _below(at, paths) for at in {(), *paths}}
    return PlanProgram(root, gathers, size, below, shared_root, memos)


def _completion(
    shape: ShapeSelection, shared: frozenset[tuple[str, ...]]
) -> tuple[_Complete, int, tuple[dict[int, Any], ...]]:
    """The compiled completion of ``shape`` (objects at the data paths ``shared``
    completed once each), its source size, and its tables of completed objects."""
    compiler = _Compiler(shared)
    root = compiler.selection(shape, ())
    source = "\n".join(compiler.lines) + "\n"
    namespace: dict[str, Any] = {
        "_NULL": _NULL,
        "_bad_leaf": _bad_leaf,
        "_bad_value": _bad_value,
        "_null_error": _null_error,
        "_not_possible": _not_possible,
        "isfinite": isfinite,
        **compiler.constants,
    }
    exec(compile(source, f"<completion of {shape.type_name}>", "exec"), namespace)
    for table, functions in compiler.dispatch.items():
        namespace[table] = {t: namespace[f] for t, f in functions.items()}
    memos = tuple(namespace[name] for name in compiler.memos)
    return namespace[root], len(source), memos


_Trail = tuple[tuple[int, int, bool], ...]
"""Where a fetch sits in its plan: for each ``Sequence`` (``True``) or ``Parallel``
on the way down, its id and the index of the branch taken."""


def _sharing(node: PlanNode | None) -> dict[int, tuple[str, ...]]:
    """The entity fetches (or parts), by id, whose gather may make equal objects at
    its path one (``Gather.share``), and that path. Allowed where nothing can tell
    the objects apart afterwards:
    - every other merge at a proper prefix of the path (root fetches: at the root)
      either runs before this fetch (an earlier step of a ``Sequence``) or merges
      answers that cannot reach the path (their keys do not hold its next step);
    - any other fetch at the same path runs before or after this one, not
      alongside it (its gather is the first at the path, or finds shared objects).
    Merges at the path itself give equal objects the same answer (one
    representation). Gathers below still walk through every place of a shared
    object, so they find every object there at every path, and their merges reach
    the shared objects (what was found below before is dropped, ``Gather.run``).
    Not for subscriptions."""
    if node is None or isinstance(node, Subscription):
        return {}
    trails: dict[int, _Trail] = {}
    fetches: list[Fetch] = []
    _trails(node, (), trails, fetches)
    merges: list[tuple[Fetch, tuple[str, ...], frozenset[str] | None, int | None]] = []
    for fetch in fetches:
        selections = _selections(fetch)
        if fetch.parts:
            for index, part in enumerate(fetch.parts):
                keys = _entity_keys(selections, index)
                merges.append((fetch, part.path, keys, id(part)))
        elif fetch.requires is not None:
            merges.append((fetch, fetch.path, _entity_keys(selections, 0), id(fetch)))
        else:
            keys = _keys(selections) if selections is not None else None
            merges.append((fetch, (), keys, None))
    out: dict[int, tuple[str, ...]] = {}
    for fetch, path, _, mine in merges:
        if mine is None:
            continue
        for other, at, keys, theirs in merges:
            if theirs == mine:
                continue
            if len(at) < len(path) and path[: len(at)] == at:
                if keys is not None and path[len(at)] not in keys:
                    continue  # its answers do not go that way
                if other is not fetch and _before(trails[id(other)], trails[id(fetch)]):
                    continue
                break
            if at == path and other is not fetch:
                here, there = trails[id(fetch)], trails[id(other)]
                if not (_before(here, there) or _before(there, here)):
                    break
        else:
            out[mine] = path
    return out


def _trails(
    node: PlanNode, trail: _Trail, out: dict[int, _Trail], fetches: list[Fetch]
) -> None:
    if isinstance(node, Fetch):
        out[id(node)] = trail
        fetches.append(node)
    elif isinstance(node, Flatten):
        _trails(node.node, trail, out, fetches)
    elif isinstance(node, (Sequence, Parallel)):
        ordered = isinstance(node, Sequence)
        for index, child in enumerate(node.nodes):
            _trails(child, (*trail, (id(node), index, ordered)), out, fetches)


def _before(first: _Trail, then: _Trail) -> bool:
    """Whether the fetch at ``first`` finishes before the one at ``then`` starts."""
    for (_, index, ordered), (_, other, _) in zip(first, then, strict=False):
        if index != other:  # where they part: in order only in a Sequence
            return ordered and index < other
    return False


def _selections(fetch: Fetch) -> SelectionSetNode | None:
    definition = fetch.document.definitions[0] if fetch.document.definitions else None
    if not isinstance(definition, OperationDefinitionNode):
        return None
    return definition.selection_set


def _entity_keys(
    selections: SelectionSetNode | None, index: int
) -> frozenset[str] | None:
    """The keys the entities of the ``index``-th ``_entities`` selection may have."""
    if selections is None or index >= len(selections.selections):
        return None
    entities = selections.selections[index]
    if not isinstance(entities, FieldNode) or entities.selection_set is None:
        return None
    return _keys(entities.selection_set)


def _keys(selections: SelectionSetNode) -> frozenset[str] | None:
    """The response keys a selection set may give (``None``: not known here, as
    for a fragment spread)."""
    keys: set[str] = set()
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            keys.add((selection.alias or selection.name).value)
        elif isinstance(selection, InlineFragmentNode):
            inner = _keys(selection.selection_set)
            if inner is None:
                return None
            keys |= inner
        else:
            return None
    return frozenset(keys)


def _prefixes(
    path: tuple[str, ...], paths: Iterable[tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    """The ``paths`` a walk down ``path`` passes (objects, so the next step is a
    key), longest first."""
    return tuple(
        sorted(
            (
                prefix
                for prefix in paths
                if len(prefix) < len(path)
                and path[: len(prefix)] == prefix
                and path[len(prefix)] != "@"
            ),
            key=len,
            reverse=True,
        )
    )


def _below(at: tuple[str, ...], paths: Iterable[tuple[str, ...]]) -> _Below:
    """The gathers' ``paths`` that go on below ``at``, by the key they take next."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        if len(path) > len(at) and path[: len(at)] == at:
            out.setdefault(path[len(at)], []).append(path)
    return {segment: tuple(kept) for segment, kept in out.items()}


def _entity_fetches(node: PlanNode | None) -> list[Fetch]:
    if node is None:
        return []
    if isinstance(node, Fetch):
        return [node] if node.parts or node.requires is not None else []
    if isinstance(node, Flatten):
        return _entity_fetches(node.node)
    if isinstance(node, (Sequence, Parallel)):
        return [f for child in node.nodes for f in _entity_fetches(child)]
    assert isinstance(node, Subscription)
    return _entity_fetches(node.rest)


def _is_wrapper(type_: GraphQLOutputType) -> bool:
    return isinstance(type_, (GraphQLNonNull, GraphQLList))


class _Compiler:
    """Emits the functions of one program. Each shape object is compiled once, and
    functions whose code is the same (a fragment spread in several places) are
    emitted once."""

    def __init__(self, shared: AbstractSet[tuple[str, ...]] = frozenset()) -> None:
        self.shared = shared
        """Data paths where gathers make equal objects one: objects there are
        completed once per response (``memos``)."""
        self.memos: list[str] = []
        """The names of the tables of objects completed once, by ``id``."""
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.dispatch: dict[str, dict[str, str]] = {}
        """Abstract types: table name -> function name by ``__typename``."""
        self._names: dict[Any, str] = {}
        self._selections: dict[tuple[int, bool], str] = {}
        self._functions: dict[tuple[str, ...], str] = {}
        self._tables: dict[tuple[Any, ...], str] = {}
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def constant(self, value: Any) -> str:
        """A name the generated code reads ``value`` by. Fields are named by what
        error messages read of them (equal fields, one name)."""
        key: Any
        if isinstance(value, ShapeField):
            key = ("field", value.parent_type, value.name, str(value.type))
        elif isinstance(value, frozenset):
            key = ("values", value)
        else:
            key = ("id", id(value))
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = self._name("K")
            self.constants[name] = value
        return name

    def _emit(self, prefix: str, body: list[str]) -> str:
        """The name of a function ``f(value, path, errors)`` doing ``body``."""
        key = (prefix, *body)
        name = self._functions.get(key)
        if name is None:
            name = self._functions[key] = self._name(prefix)
            self.lines += [f"def {name}(value, path, errors):", *body, ""]
        return name

    # -- selections and objects ------------------------------------------------------

    def selection(self, shape: ShapeSelection, where: tuple[str, ...]) -> str:
        """The function ``f(value, path, errors)`` doing ``completion._object`` for
        the objects at data path ``where``."""
        key = (id(shape), where in self.shared)
        name = self._selections.get(key)
        if name is not None:
            return name
        if not shape.abstract:
            fields = shape.fields_by_type[shape.type_name]
            name = self._selections[key] = self._object(shape.type_name, fields, where)
            return name
        functions = {
            type_name: self._object(type_name, fields, where)
            for type_name, fields in shape.fields_by_type.items()
        }
        table = self._tables.get(tuple(functions.items()))
        if table is None:
            table = self._tables[tuple(functions.items())] = self._name("D")
            self.dispatch[table] = functions
        name = self._selections[key] = self._emit(
            "s",
            [
                "    type_name = value.get('__typename')",
                f"    fn = {table}.get(type_name) if type(type_name) is str else None",
                "    if fn is None:",
                f"        _not_possible(type_name, {shape.type_name!r}, path, errors)",
                "        return None",
                "    return fn(value, path, errors)",
            ],
        )
        return name

    def _object(
        self, type_name: str, fields: tuple[ShapeField, ...], where: tuple[str, ...]
    ) -> str:
        memo = self._memo() if where in self.shared else None
        body = self._object_body(
            type_name,
            fields,
            "value",
            "path",
            ["return _NULL"],
            "return " if memo is None else "done = ",
            "    ",
            where,
        )
        if memo is None:
            return self._emit("o", body)
        return self._emit(
            "o",
            [
                f"    done = {memo}.get(id(value))",
                "    if done is not None:",
                "        return done",
                "    mark = len(errors)",
                *body,
                "    if len(errors) == mark:",
                f"        {memo}[id(value)] = done",
                "    return done",
            ],
        )

    def _memo(self) -> str:
        """A new table of objects completed once (by ``id``, for one response:
        completed without an error, an object's completion is the same
        wherever it is)."""
        name = self._name("M")
        self.constants[name] = {}
        self.memos.append(name)
        return name

    def _object_body(
        self,
        type_name: str,
        fields: tuple[ShapeField, ...],
        obj: str,
        path: str,
        null: list[str],
        done: str,
        indent: str,
        where: tuple[str, ...],
    ) -> list[str]:
        """Code completing the object ``obj`` at ``path`` (data path ``where``):
        ``null`` when it becomes null (a non-null field is null), else ``done``
        with the completed object after it."""
        body: list[str] = []
        entries: list[str] = []
        for index, field in enumerate(fields):
            key = field.response_key
            at = f"({path}, {key!r})"
            get = f"{obj}.get({field.data_key!r})"
            if field.name == "__typename":
                entries.append(f"{key!r}: {type_name!r}")
            elif field.local or (
                field.leaf and field.check is None and not field.non_null
            ):
                entries.append(f"{key!r}: {get}")
            elif field.leaf:
                var = f"v{index}"
                body.append(f"{indent}{var} = {get}")
                body += self._leaf(field, var, at, indent)
                if field.non_null:
                    body += [
                        f"{indent}if {var} is None:",
                        f"{indent}    _null_error({at}, errors, {self.constant(field)})",
                        *(f"{indent}    {line}" for line in null),
                    ]
                entries.append(f"{key!r}: {var}")
            else:
                var = f"v{index}"
                body.append(f"{indent}{var} = {get}")
                body += self._value(
                    field.type, field, var, at, indent, (*where, field.data_key)
                )
                if isinstance(field.type, GraphQLNonNull):
                    body += [
                        f"{indent}if {var} is _NULL:",
                        *(f"{indent}    {line}" for line in null),
                    ]
                entries.append(f"{key!r}: {var}")
        body.append(f"{indent}{done}{{" + ", ".join(entries) + "}")
        return body

    # -- values ----------------------------------------------------------------------

    def _leaf(self, field: ShapeField, var: str, path: str, indent: str) -> list[str]:
        """A leaf value that is not a value of the client's type becomes null with
        an error (``completion._bad_leaf``)."""
        check = field.check
        if check is None:
            return []
        expression = CHECK_EXPRESSIONS.get(check)
        if expression is None and isinstance(check, EnumCheck):
            expression = (
                f"(type({{v}}) is str and {{v}} in {self.constant(check.values)})"
            )
        bad = [
            f"{indent}        errors.append(_bad_leaf({path}, {self.constant(field)}))",
            f"{indent}        {var} = None",
        ]
        if expression is not None:
            # These checks are false for null: one test on the common path.
            return [
                f"{indent}if not {expression.replace('{v}', var)}:",
                f"{indent}    if {var} is not None:",
                *bad,
            ]
        return [
            f"{indent}if {var} is not None and not {self.constant(check)}({var}):",
            *(line[4:] for line in bad),
        ]

    def _value(
        self,
        type_: GraphQLOutputType,
        field: ShapeField,
        var: str,
        path: str,
        indent: str,
        where: tuple[str, ...],
    ) -> list[str]:
        """``completion._value``: replaces ``var`` (the data's value, at data path
        ``where``) with the completed value, or ``_NULL`` (the parent becomes
        null)."""
        if isinstance(type_, GraphQLNonNull):
            lines = self._nullable(
                type_.of_type, field, var, path, indent, False, where
            )
            return [
                *lines,
                f"{indent}if {var} is None:",
                f"{indent}    _null_error({path}, errors, {self.constant(field)})",
                f"{indent}    {var} = _NULL",
            ]
        return self._nullable(type_, field, var, path, indent, True, where)

    def _nullable(
        self,
        type_: GraphQLOutputType,
        field: ShapeField,
        var: str,
        path: str,
        indent: str,
        nullable: bool,
        where: tuple[str, ...],
    ) -> list[str]:
        """``completion._nullable``: the value is null, or of ``type_``; when
        ``nullable``, a ``_NULL`` from below is null here."""
        stop = [f"{indent}    if {var} is _NULL:", f"{indent}        {var} = None"]
        if isinstance(type_, GraphQLList):
            function = self._list(type_, field, (*where, "@"))
            return [
                f"{indent}if {var} is not None:",
                f"{indent}    {var} = {function}({var}, {path}, errors)",
                *(stop if nullable else ()),
            ]
        if field.selection is None:
            return self._leaf(field, var, path, indent)
        selection = self.selection(field.selection, where)
        return [
            f"{indent}if type({var}) is dict:",
            f"{indent}    {var} = {selection}({var}, {path}, errors)",
            *(stop if nullable else ()),
            f"{indent}elif {var} is not None:",
            f"{indent}    errors.append(_bad_value({path}, 'an object'))",
            f"{indent}    {var} = None",
        ]

    def _list(
        self, type_: GraphQLList[Any], field: ShapeField, where: tuple[str, ...]
    ) -> str:
        """A function ``f(value, path, errors)`` completing a non-null list value
        (its items at data path ``where``)."""
        item_type = type_.of_type
        lines = [
            "    if type(value) is not list:",
            "        errors.append(_bad_value(path, 'a list'))",
            "        return None",
        ]
        if (
            field.selection is None
            and field.check is None
            and not _is_wrapper(item_type)
        ):
            lines.append("    return value  # a list of nullable custom scalars")
            return self._emit("l", lines)
        lines.append("    items = []")
        lines.append("    append = items.append")
        lines.append("    for index, item in enumerate(value):")
        if field.selection is not None and not _is_wrapper(item_type):
            lines.append("        if type(item) is dict:")
            shape = field.selection
            if shape.abstract:
                selection = self.selection(shape, where)
                lines += [
                    f"            item = {selection}(item, (path, index), errors)",
                    "            append(None if item is _NULL else item)",
                ]
            else:
                # The item's object is completed in the loop (no call); its path
                # is made only when something below needs it.
                memo = self._memo() if where in self.shared else None
                body = self._object_body(
                    shape.type_name,
                    shape.fields_by_type[shape.type_name],
                    "item",
                    "at",
                    ["append(None)", "continue"],
                    "append(" if memo is None else "done = ",
                    "            ",
                    where,
                )
                if memo is None:
                    body[-1] += ")"
                else:
                    body = [
                        f"            done = {memo}.get(id(item))",
                        "            if done is not None:",
                        "                append(done)",
                        "                continue",
                        "            mark = len(errors)",
                        *body,
                        "            if len(errors) == mark:",
                        f"                {memo}[id(item)] = done",
                        "            append(done)",
                    ]
                if any(
                    "(at, " in line
                    and not line.lstrip().startswith(("errors.append", "_null_error"))
                    for line in body
                ):  # a call below: its path is needed anyway
                    lines.append("            at = (path, index)")
                else:  # only errors need the path
                    body = [line.replace("(at, ", "((path, index), ") for line in body]
                lines += body
            lines += [
                "        elif item is None:",
                "            append(None)",
                "        else:",
                "            errors.append(_bad_value((path, index), 'an object'))",
                "            append(None)",
            ]
        else:
            lines += self._value(
                item_type, field, "item", "(path, index)", "        ", where
            )
            lines += [
                "        if item is _NULL:",
                "            return _NULL",
                "        append(item)",
            ]
        lines.append("    return items")
        return self._emit("l", lines)
