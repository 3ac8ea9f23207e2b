"""A YAML reader that knows where every value came from, for ``file:line:col`` errors.

Typed scalars (strings, integers, booleans, durations, sizes, URLs, header names),
``${VAR}`` expansion, merge keys, and one-line ``file:line:column: key.path: what``
errors; ``gateway.config.grammar`` adds the sections of supergraph.yaml.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.errors import ConfigError

__all__ = [
    "LocatedReader",
    "Pairs",
    "column_of",
    "did_you_mean",
    "is_null",
    "join",
    "kind",
    "kind_of",
    "line_of",
    "one_line",
    "read_yaml",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MEGABYTE = 1024 * 1024


def read_yaml(file: Path, shown: str) -> Node | None:
    """The composed YAML node tree of ``file`` (``shown`` names it in errors)."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=shown) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", file=shown) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    text = _decode(raw, shown)
    try:
        root: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            f"invalid YAML: {problem or 'syntax error'}",
            file=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {one_line(str(exc))}", file=shown) from None
    return root


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", file=shown, line=line) from None


def one_line(text: str) -> str:
    return " ".join(text.split())


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_ENV_REFERENCE = re.compile(
    r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": _MEGABYTE,
    "mib": _MEGABYTE,
    "gb": 1024 * _MEGABYTE,
    "gib": 1024 * _MEGABYTE,
}
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"

Pairs = dict[str, tuple[ScalarNode, Node]]


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def column_of(node: Node) -> int:
    return int(node.start_mark.column) + 1


def kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "nothing (null)"
    if node.tag == _BOOL_TAG:
        return f"a boolean ({node.value})"
    if node.tag in (_INT_TAG, _FLOAT_TAG):
        return f"a number ({node.value})"
    return f"the string {node.value!r}"


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG)


class LocatedReader:
    """Reads composed YAML nodes as typed values, or raises ``ConfigError`` at the node.

    Subclasses add the sections of one file format (see ``gateway.config.grammar``).
    """

    def __init__(self, file: str, base: Path, environ: Mapping[str, str]) -> None:
        self.file = file
        self.base = base
        self.environ = environ
        self._constructor = yaml.SafeLoader("")

    # -- errors ------------------------------------------------------------------

    def fail(self, node: Node | None, path: str, message: str) -> NoReturn:
        raise ConfigError(
            message,
            file=self.file,
            key_path=path or None,
            line=line_of(node) if node is not None else None,
            column=column_of(node) if node is not None else None,
        )

    # -- structure -----------------------------------------------------------------

    def pairs(
        self,
        node: Node,
        path: str,
        what: str = "a mapping",
        merging: frozenset[int] = frozenset(),
    ) -> Pairs:
        """A mapping node's entries by key, merge keys (``<<``) applied."""
        if not isinstance(node, MappingNode):
            self.fail(node, path, f"expected {what}, got {kind(node)}")
        if id(node) in merging:
            self.fail(node, path, "recursive merge key (<<)")
        explicit: Pairs = {}
        merged: Pairs = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    inner = self.pairs(source, path, what, merging | {id(node)})
                    for name, pair in inner.items():
                        merged.setdefault(name, pair)
                continue
            if not isinstance(key, ScalarNode) or key.tag == _NULL_TAG:
                self.fail(key, path, "keys must be strings")
            name = str(key.value)
            if name in explicit:
                first = explicit[name][0]
                self.fail(
                    key,
                    join(path, name),
                    f"duplicate key (first at line {line_of(first)})",
                )
            explicit[name] = (key, value)
        return {**merged, **explicit}

    def mapping(
        self, node: Node, path: str, allowed: Iterable[str], what: str = "a mapping"
    ) -> Pairs:
        """``pairs`` where every key must be one of ``allowed``."""
        entries = self.pairs(node, path, what)
        allowed = tuple(allowed)
        for name, (key, _) in entries.items():
            if name not in allowed:
                self.fail(
                    key,
                    join(path, name),
                    f"unknown key{did_you_mean(name, allowed)}; "
                    f"expected one of: {', '.join(allowed)}",
                )
        return entries

    def optional_mapping(
        self, node: Node | None, path: str, allowed: Iterable[str]
    ) -> Pairs:
        if node is None or is_null(node):
            return {}
        return self.mapping(node, path, allowed)

    # -- scalars -------------------------------------------------------------------

    def expand(self, node: ScalarNode, path: str) -> str:
        """A string scalar with ``${VAR}`` references replaced."""
        text = str(node.value)
        if "$" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "$${":
                return "${"
            name = match.group("name")
            if name is None:
                self.fail(
                    node,
                    path,
                    "malformed environment reference: use ${VAR} or ${VAR:-default}"
                    " (or $${ for a literal ${)",
                )
            value = self.environ.get(name)
            default = match.group("default")
            if default is not None and not value:
                return default
            if value is None:
                self.fail(
                    node,
                    path,
                    f"environment variable {name} is not set "
                    f"(use ${{{name}:-default}} to give a default)",
                )
            return value

        return _ENV_REFERENCE.sub(replace, text)

    def scalar_text(self, node: Node, path: str) -> str:
        """Any non-null scalar as text, env-expanded if it is a string."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
            self.fail(node, path, f"expected a string, got {kind(node)}")
        if node.tag == _STR_TAG:
            return self.expand(node, path)
        return str(node.value)

    def string(self, node: Node, path: str, *, empty: bool = False) -> str:
        text = self.scalar_text(node, path)
        if not empty and not text.strip():
            self.fail(node, path, "must not be empty")
        return text

    def integer(self, node: Node, path: str, *, minimum: int = 0) -> int:
        text = self._number_text(node, path, "an integer")
        if isinstance(node, ScalarNode) and node.tag == _INT_TAG:
            text = str(self._constructor.construct_yaml_int(node))
        if not _INT.fullmatch(text):
            self.fail(node, path, f"expected an integer, got {kind_of(node, text)}")
        value = int(text)
        if value < minimum:
            self.fail(node, path, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, node: Node, path: str) -> bool:
        if isinstance(node, ScalarNode) and node.tag == _BOOL_TAG:
            return bool(self._constructor.construct_yaml_bool(node))
        text = self._number_text(node, path, "true or false").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.fail(node, path, f"expected true or false, got {kind_of(node, text)}")

    def duration(self, node: Node, path: str) -> float:
        """Seconds: a number, or ``"30s"``, ``"500ms"``, ``"1m30s"``."""
        text = self._number_text(node, path, "a duration").strip()
        if _FLOAT.fullmatch(text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(a + b for a, b in parts) != text:
                self.fail(
                    node,
                    path,
                    f'expected a duration such as 30, "30s" or "500ms", '
                    f"got {kind_of(node, text)}",
                )
            seconds = sum(float(n) * _DURATION_UNITS[unit] for n, unit in parts)
        if not seconds > 0:
            self.fail(node, path, "must be greater than zero")
        return seconds

    def size(self, node: Node, path: str) -> int:
        """Bytes: an integer, or ``"5MB"``, ``"512KB"`` (1 KB = 1024 bytes)."""
        text = self._number_text(node, path, "a size").strip()
        match = _SIZE.fullmatch(text)
        if match is None:
            self.fail(
                node,
                path,
                f'expected a size in bytes such as 1048576 or "5MB", '
                f"got {kind_of(node, text)}",
            )
        unit = (match.group(2) or "b").lower()
        value = int(float(match.group(1)) * _SIZE_UNITS[unit])
        if value <= 0:
            self.fail(node, path, "must be greater than zero")
        return value

    def _number_text(self, node: Node, path: str, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
            self.fail(node, path, f"expected {what}, got {kind(node)}")
        if node.tag == _STR_TAG:
            return self.expand(node, path)
        return str(node.value)

    def url(
        self, node: Node, path: str, schemes: tuple[str, ...] = ("http", "https")
    ) -> str:
        text = self.string(node, path).strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            self.fail(node, path, f"invalid URL {text!r}: {exc}")
        if parts.scheme.lower() not in schemes or not parts.hostname:
            self.fail(
                node,
                path,
                f"invalid URL {text!r}: expected "
                f"{' or '.join(s + '://' for s in schemes)}host[:port]/path",
            )
        return text

    def choice(self, node: Node, path: str, choices: tuple[str, ...], what: str) -> str:
        text = self.string(node, path).strip()
        if text not in choices:
            self.fail(
                node,
                path,
                f"unknown {what} {text!r}{did_you_mean(text, choices)}; "
                f"expected one of: {', '.join(choices)}",
            )
        return text

    def header_name(self, node: Node, path: str) -> str:
        text = self.string(node, path).strip()
        if not _HEADER_NAME.fullmatch(text):
            self.fail(node, path, f"{text!r} is not a valid HTTP header name")
        return text

    def string_map(self, node: Node | None, path: str) -> Mapping[str, str]:
        if node is None or is_null(node):
            return _EMPTY
        out: dict[str, str] = {}
        for name, (key, value) in self.pairs(node, path).items():
            if not _HEADER_NAME.fullmatch(name):
                self.fail(key, join(path, name), "not a valid HTTP header name")
            out[name] = self.string(value, join(path, name), empty=True)
        return MappingProxyType(out)

    def data(self, node: Node, path: str, active: frozenset[int] = frozenset()) -> Any:
        """Free-form data (``options``): plain Python values, strings env-expanded."""
        if id(node) in active:
            self.fail(node, path, "recursive alias")
        active = active | {id(node)}
        if isinstance(node, MappingNode):
            return {
                name: self.data(value, join(path, name), active)
                for name, (_, value) in self.pairs(node, path).items()
            }
        if isinstance(node, SequenceNode):
            return [
                self.data(item, f"{path}[{index}]", active)
                for index, item in enumerate(node.value)
            ]
        assert isinstance(node, ScalarNode)
        if node.tag == _STR_TAG:
            return self.expand(node, path)
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.fail(node, path, f"invalid value: {one_line(str(exc))}")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def kind_of(node: Node, text: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
        return f"the string {text!r}"
    return kind(node)
