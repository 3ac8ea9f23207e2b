"""supergraph.yaml to frozen dataclasses: the only place the gateway reads raw YAML.

Accepted input, unchanged from the tools users already have:

* Cosmo's ``wgc router compose`` input: ``version: 1`` and ``subgraphs`` as a list of
  entries with ``name``, ``routing_url``, ``schema.file``, ``subscription`` (``url``,
  ``protocol``: ``sse`` | ``sse_post`` | ``ws``, ``websocketSubprotocol`` or
  ``websocket_subprotocol``: ``graphql-ws`` | ``graphql-transport-ws`` | ``auto``) and
  ``introspection`` (``url``, ``headers``: the SDL is fetched at start-up).
  See https://cosmo-docs.wundergraph.com/cli/router/compose
* rover's map form: ``federation_version`` and ``subgraphs`` as a mapping from name to
  ``routing_url`` and ``schema`` (``file``, ``sdl`` inline, or ``subgraph_url`` with
  optional ``introspection_headers``). ``schema: {graphref, subgraph}`` needs GraphOS
  and is refused with a clear error.
  See https://www.apollographql.com/docs/rover/commands/supergraphs#yaml-configuration-file

Our additions:

* ``module: package.module:factory`` instead of ``routing_url`` runs the subgraph
  in-process (exactly one of the two); ``options: {...}`` is passed to the factory and
  ``schema`` is optional because the module supplies its SDL. Switching to a remote
  subgraph is one line: replace ``module:`` by ``routing_url: http://host:port/graphql``
  (``subscription``/``introspection``/``timeout`` may stay in place; they apply when the
  entry is remote).
* ``timeout`` per subgraph: seconds (``30``, ``2.5``) or a duration string (``"30s"``,
  ``"500ms"``, ``"1m30s"``; units ``ms``, ``s``, ``m``, ``h``).
* ``subscription.protocol`` defaults to ``sse`` (this gateway streams over SSE); ``ws``
  is accepted here and refused by the SSE layer at start-up. ``subscription.url`` may
  be ``ws(s)://`` only with ``protocol: ws``.
* ``gateway:`` (optional): ``host`` (127.0.0.1), ``port`` (4000), ``graphql_path``
  (/graphql), ``subgraph_timeout`` (30s), ``max_request_bytes`` (5 MB; an int or
  ``"5MB"``/``"512KB"``, 1 KB = 1024 bytes), ``heartbeat_interval`` (30s),
  ``max_streams`` (10000 open SSE streams in total), ``max_streams_per_client`` (100),
  ``dedup_queries`` (true), ``playground`` (true), ``document_cache_size`` and
  ``plan_cache_size`` (1024), ``log_level`` (info) and ``headers``: Cosmo-style rules
  under ``all.request`` (every subgraph) and ``subgraphs.<name>.request``; a rule is
  ``{op: propagate, named: X-Id | matching: <regex>, rename?, default?}`` or
  ``{op: set, name: X-Gateway, value: ...}``.
  See https://cosmo-docs.wundergraph.com/router/proxy-capabilities
* ``${VAR}`` and ``${VAR:-default}`` are expanded in every string value (never in
  keys) from the environment; the default applies when VAR is unset or empty, an unset
  ``${VAR}`` without default is an error, and ``$${VAR}`` is a literal ``${VAR}``.
  Where a number or a boolean is expected, a string that spells one is converted.
* Relative file paths are relative to the directory of the YAML file.

Every mistake raises ``ConfigError``, one line: ``file:line:column: key.path: what``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn, cast
from urllib.parse import urlsplit

import yaml
from graphql import GraphQLSyntaxError, parse
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.errors import ConfigError

__all__ = [
    "Config",
    "GatewayConfig",
    "HeaderRule",
    "IntrospectionConfig",
    "SubgraphConfig",
    "SubscriptionConfig",
    "load_config",
]

SubscriptionProtocol = Literal["sse", "sse_post", "ws"]
HeaderOp = Literal["propagate", "set"]

SUBSCRIPTION_PROTOCOLS: tuple[str, ...] = ("sse", "sse_post", "ws")
WEBSOCKET_SUBPROTOCOLS: tuple[str, ...] = ("graphql-ws", "graphql-transport-ws", "auto")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
MEGABYTE = 1024 * 1024

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# --- Values ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """One Cosmo-style header rule: ``propagate`` a client header, or ``set`` one."""

    op: HeaderOp
    named: str | None = None
    matching: re.Pattern[str] | None = None
    rename: str | None = None
    default: str | None = None
    name: str | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    """Where and how a remote subgraph's subscriptions are opened."""

    url: str | None = None
    protocol: SubscriptionProtocol = "sse"
    websocket_subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class IntrospectionConfig:
    """Fetch a running subgraph's SDL at start-up (``{ _service { sdl } }``)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class SubgraphConfig:
    """One subgraph: remote (``routing_url``) or in-process (``module``).

    ``sdl`` is the text of ``schema.file`` (or rover's inline ``schema.sdl``), already
    checked to parse; ``line`` is where the entry starts in supergraph.yaml.
    """

    name: str
    routing_url: str | None = None
    module: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    schema_file: Path | None = None
    sdl: str | None = None
    introspection: IntrospectionConfig | None = None
    subscription: SubscriptionConfig | None = None
    timeout: float | None = None
    headers: tuple[HeaderRule, ...] = ()
    line: int | None = None

    @property
    def subscription_url(self) -> str | None:
        """Where subscriptions go: ``subscription.url``, else ``routing_url``."""
        if self.subscription is not None and self.subscription.url is not None:
            return self.subscription.url
        return self.routing_url

    @property
    def is_local(self) -> bool:
        """True for an in-process subgraph."""
        return self.module is not None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``gateway:`` section; ``GatewayConfig()`` is the default gateway."""

    host: str = "127.0.0.1"
    port: int = 4000
    graphql_path: str = "/graphql"
    subgraph_timeout: float = 30.0
    max_request_bytes: int = 5 * MEGABYTE
    heartbeat_interval: float = 30.0
    max_streams: int = 10000
    max_streams_per_client: int = 100
    dedup_queries: bool = True
    playground: bool = True
    document_cache_size: int = 1024
    plan_cache_size: int = 1024
    headers: tuple[HeaderRule, ...] = ()
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    """A whole supergraph.yaml."""

    path: Path | None
    subgraphs: tuple[SubgraphConfig, ...]
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    version: str | None = None
    federation_version: str | None = None

    def with_overrides(self, **gateway_fields: Any) -> Config:
        """A copy with some ``gateway`` settings replaced (command-line flags)."""
        known = {f.name for f in dataclasses.fields(GatewayConfig)}
        for name in gateway_fields:
            if name not in known:
                raise ConfigError(
                    f"unknown gateway setting {name!r}{_did_you_mean(name, known)}",
                    file=str(self.path) if self.path else None,
                    key_path=f"gateway.{name}",
                )
        if "port" in gateway_fields:
            port = gateway_fields["port"]
            if not isinstance(port, int) or isinstance(port, bool):
                raise ConfigError(
                    f"expected an integer, got {port!r}", key_path="gateway.port"
                )
            if not 0 <= port <= 65535:
                raise ConfigError(
                    f"{port} is not a TCP port (0-65535)", key_path="gateway.port"
                )
        if "log_level" in gateway_fields:
            level = str(gateway_fields["log_level"]).lower()
            if level not in LOG_LEVELS:
                raise ConfigError(
                    f"unknown log level {level!r} (one of {', '.join(LOG_LEVELS)})",
                    key_path="gateway.log_level",
                )
            gateway_fields["log_level"] = level
        gateway = dataclasses.replace(self.gateway, **gateway_fields)
        return dataclasses.replace(self, gateway=gateway)


# --- Loading --------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read supergraph.yaml at ``path``; ``${VAR}`` comes from ``environ``
    (default ``os.environ``). Raises ``ConfigError`` on any mistake."""
    file = Path(path)
    shown = str(path)
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
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
        raise ConfigError(f"invalid YAML: {_one_line(str(exc))}", file=shown) from None
    loader = _Loader(
        shown,
        file.resolve().parent,
        os.environ if environ is None else environ,
    )
    return loader.config(root, file.resolve())


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", file=shown, line=line) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
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
    "mb": MEGABYTE,
    "mib": MEGABYTE,
    "gb": 1024 * MEGABYTE,
    "gib": 1024 * MEGABYTE,
}
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})
_MODULE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?"
)
_SUBGRAPH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FEDERATION_VERSION = re.compile(r"=?\d+(\.\d+){0,2}")

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_TOP_KEYS = ("version", "federation_version", "subgraphs", "gateway")
_SUBGRAPH_KEYS = (
    "routing_url",
    "module",
    "options",
    "schema",
    "subscription",
    "introspection",
    "timeout",
)
_SCHEMA_KEYS = ("file", "sdl", "subgraph_url", "introspection_headers")
_SUBSCRIPTION_KEYS = (
    "url",
    "protocol",
    "websocketSubprotocol",
    "websocket_subprotocol",
)
_INTROSPECTION_KEYS = ("url", "headers")
_GATEWAY_KEYS = (
    "host",
    "port",
    "graphql_path",
    "subgraph_timeout",
    "max_request_bytes",
    "heartbeat_interval",
    "max_streams",
    "max_streams_per_client",
    "dedup_queries",
    "playground",
    "document_cache_size",
    "plan_cache_size",
    "headers",
    "log_level",
)
_PROPAGATE_KEYS = ("op", "named", "matching", "rename", "default")
_SET_KEYS = ("op", "name", "value")

_Pairs = dict[str, tuple[ScalarNode, Node]]


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _column(node: Node) -> int:
    return int(node.start_mark.column) + 1


def _kind(node: Node) -> str:
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


def _is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG)


class _Loader:
    """Walks the composed YAML nodes and builds the dataclasses, or raises."""

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
            line=_line(node) if node is not None else None,
            column=_column(node) if node is not None else None,
        )

    # -- structure -----------------------------------------------------------------

    def pairs(
        self,
        node: Node,
        path: str,
        what: str = "a mapping",
        merging: frozenset[int] = frozenset(),
    ) -> _Pairs:
        """A mapping node's entries by key, merge keys (``<<``) applied."""
        if not isinstance(node, MappingNode):
            self.fail(node, path, f"expected {what}, got {_kind(node)}")
        if id(node) in merging:
            self.fail(node, path, "recursive merge key (<<)")
        explicit: _Pairs = {}
        merged: _Pairs = {}
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
                    _join(path, name),
                    f"duplicate key (first at line {_line(first)})",
                )
            explicit[name] = (key, value)
        return {**merged, **explicit}

    def mapping(
        self, node: Node, path: str, allowed: Iterable[str], what: str = "a mapping"
    ) -> _Pairs:
        """``pairs`` where every key must be one of ``allowed``."""
        entries = self.pairs(node, path, what)
        allowed = tuple(allowed)
        for name, (key, _) in entries.items():
            if name not in allowed:
                self.fail(
                    key,
                    _join(path, name),
                    f"unknown key{_did_you_mean(name, allowed)}; "
                    f"expected one of: {', '.join(allowed)}",
                )
        return entries

    def optional_mapping(
        self, node: Node | None, path: str, allowed: Iterable[str]
    ) -> _Pairs:
        if node is None or _is_null(node):
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
            self.fail(node, path, f"expected a string, got {_kind(node)}")
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
            self.fail(node, path, f"expected an integer, got {_kind_of(node, text)}")
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
        self.fail(node, path, f"expected true or false, got {_kind_of(node, text)}")

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
                    f"got {_kind_of(node, text)}",
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
                f"got {_kind_of(node, text)}",
            )
        unit = (match.group(2) or "b").lower()
        value = int(float(match.group(1)) * _SIZE_UNITS[unit])
        if value <= 0:
            self.fail(node, path, "must be greater than zero")
        return value

    def _number_text(self, node: Node, path: str, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
            self.fail(node, path, f"expected {what}, got {_kind(node)}")
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
                f"unknown {what} {text!r}{_did_you_mean(text, choices)}; "
                f"expected one of: {', '.join(choices)}",
            )
        return text

    def header_name(self, node: Node, path: str) -> str:
        text = self.string(node, path).strip()
        if not _HEADER_NAME.fullmatch(text):
            self.fail(node, path, f"{text!r} is not a valid HTTP header name")
        return text

    def string_map(self, node: Node | None, path: str) -> Mapping[str, str]:
        if node is None or _is_null(node):
            return _EMPTY
        out: dict[str, str] = {}
        for name, (key, value) in self.pairs(node, path).items():
            if not _HEADER_NAME.fullmatch(name):
                self.fail(key, _join(path, name), "not a valid HTTP header name")
            out[name] = self.string(value, _join(path, name), empty=True)
        return MappingProxyType(out)

    def data(self, node: Node, path: str, active: frozenset[int] = frozenset()) -> Any:
        """Free-form data (``options``): plain Python values, strings env-expanded."""
        if id(node) in active:
            self.fail(node, path, "recursive alias")
        active = active | {id(node)}
        if isinstance(node, MappingNode):
            return {
                name: self.data(value, _join(path, name), active)
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
            self.fail(node, path, f"invalid value: {_one_line(str(exc))}")

    # -- sections ------------------------------------------------------------------

    def config(self, root: Node | None, path: Path) -> Config:
        if _is_null(root):
            self.fail(
                None, "", "the file is empty; expected a mapping with `subgraphs`"
            )
        assert root is not None
        top = self.mapping(
            root, "", _TOP_KEYS, "a mapping with `subgraphs` at the top level"
        )
        version = federation_version = None
        if "version" in top:
            version = self.string(top["version"][1], "version").strip()
        if "federation_version" in top:
            node = top["federation_version"][1]
            federation_version = self.string(node, "federation_version").strip()
            if not _FEDERATION_VERSION.fullmatch(federation_version):
                self.fail(
                    node,
                    "federation_version",
                    f"expected a version such as 2 or =2.3.2, got {federation_version!r}",
                )
        if "subgraphs" not in top:
            self.fail(root, "subgraphs", "missing: list the subgraphs to compose")
        key, node = top["subgraphs"]
        subgraphs = self.subgraphs(key, node)
        gateway_node = top["gateway"][1] if "gateway" in top else None
        gateway, per_subgraph = self.gateway(gateway_node, subgraphs)
        if per_subgraph:
            subgraphs = [
                dataclasses.replace(s, headers=per_subgraph.get(s.name, ()))
                for s in subgraphs
            ]
        return Config(
            path=path,
            subgraphs=tuple(subgraphs),
            gateway=gateway,
            version=version,
            federation_version=federation_version,
        )

    def subgraphs(self, key: Node, node: Node) -> list[SubgraphConfig]:
        # name, the node naming it, the entry, its key path, where the entry starts
        entries: list[tuple[str, Node, Node, str, Node]] = []
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                item_path = f"subgraphs[{index}]"
                fields = self.pairs(item, item_path, "a subgraph mapping")
                if "name" not in fields:
                    self.fail(
                        item,
                        f"{item_path}.name",
                        "missing: every subgraph needs a name",
                    )
                name_node = fields["name"][1]
                name = self.subgraph_name(name_node, f"{item_path}.name")
                entries.append((name, name_node, item, f"subgraphs.{name}", item))
        elif isinstance(node, MappingNode):
            for name, (name_key, item) in self.pairs(node, "subgraphs").items():
                self.subgraph_name(name_key, f"subgraphs.{name}")
                entries.append((name, name_key, item, f"subgraphs.{name}", name_key))
        elif _is_null(node):
            entries = []
        else:
            self.fail(
                node, "subgraphs", f"expected a list or a mapping, got {_kind(node)}"
            )
        if not entries:
            self.fail(
                node if not _is_null(node) else key,
                "subgraphs",
                "is empty: list at least one subgraph",
            )
        seen: dict[str, Node] = {}
        for name, name_node, _, item_path, _ in entries:
            if name in seen:
                self.fail(
                    name_node,
                    item_path,
                    f"duplicate subgraph name {name!r} "
                    f"(first at line {_line(seen[name])})",
                )
            seen[name] = name_node
        return [
            self.subgraph(
                name, item, item_path, anchor, in_list=isinstance(node, SequenceNode)
            )
            for name, _, item, item_path, anchor in entries
        ]

    def subgraph_name(self, node: Node, path: str) -> str:
        name = self.string(node, path).strip()
        if not _SUBGRAPH_NAME.fullmatch(name):
            self.fail(
                node,
                path,
                f"invalid subgraph name {name!r}: use letters, digits, _ and -",
            )
        return name

    def subgraph(
        self, name: str, node: Node, path: str, anchor: Node, *, in_list: bool
    ) -> SubgraphConfig:
        allowed = ("name", *_SUBGRAPH_KEYS) if in_list else _SUBGRAPH_KEYS
        fields = self.mapping(node, path, allowed, "a subgraph mapping")

        def value(key: str) -> Node | None:
            return fields[key][1] if key in fields else None

        routing_node, module_node = value("routing_url"), value("module")
        if routing_node is not None and module_node is not None:
            self.fail(
                fields["module"][0],
                path,
                "give either routing_url (a remote subgraph) or module "
                "(in-process), not both",
            )
        if routing_node is None and module_node is None:
            self.fail(
                anchor,
                path,
                "missing routing_url (a remote subgraph) or module (in-process)",
            )
        routing_url = module = None
        if routing_node is not None:
            routing_url = self.url(routing_node, f"{path}.routing_url")
        if module_node is not None:
            module = self.string(module_node, f"{path}.module").strip()
            if not _MODULE.fullmatch(module):
                self.fail(
                    module_node,
                    f"{path}.module",
                    f"expected package.module:factory, got {module!r}",
                )
        options: Mapping[str, Any] = _EMPTY
        options_node = value("options")
        if options_node is not None and not _is_null(options_node):
            if module is None:
                self.fail(
                    fields["options"][0],
                    f"{path}.options",
                    "options are passed to an in-process module; "
                    "this subgraph has a routing_url",
                )
            options = MappingProxyType(
                cast(
                    dict[str, Any],
                    self.data(
                        _require_mapping(self, options_node, f"{path}.options"),
                        f"{path}.options",
                    ),
                )
            )
        schema_file, sdl, introspection = self.schema(value("schema"), f"{path}.schema")
        introspection_node = value("introspection")
        if introspection_node is not None and not _is_null(introspection_node):
            if introspection is not None:
                self.fail(
                    fields["introspection"][0],
                    f"{path}.introspection",
                    "schema.subgraph_url already says where to introspect",
                )
            introspection = self.introspection(
                introspection_node, f"{path}.introspection"
            )
        subscription_node = value("subscription")
        subscription = None
        if subscription_node is not None and not _is_null(subscription_node):
            subscription = self.subscription(subscription_node, f"{path}.subscription")
        timeout_node = value("timeout")
        timeout = (
            self.duration(timeout_node, f"{path}.timeout")
            if timeout_node is not None
            else None
        )
        return SubgraphConfig(
            name=name,
            routing_url=routing_url,
            module=module,
            options=options,
            schema_file=schema_file,
            sdl=sdl,
            introspection=introspection,
            subscription=subscription,
            timeout=timeout,
            line=_line(anchor),
        )

    def schema(
        self, node: Node | None, path: str
    ) -> tuple[Path | None, str | None, IntrospectionConfig | None]:
        fields = self.optional_mapping(
            node, path, (*_SCHEMA_KEYS, "graphref", "subgraph")
        )
        if "graphref" in fields or "subgraph" in fields:
            key = fields.get("graphref", fields.get("subgraph"))
            assert key is not None
            self.fail(
                key[0],
                path,
                "schema.graphref/subgraph fetch from Apollo GraphOS, which is not "
                "supported: use schema.file, schema.subgraph_url or introspection",
            )
        sources = [k for k in ("file", "sdl", "subgraph_url") if k in fields]
        if len(sources) > 1:
            self.fail(
                fields[sources[1]][0],
                path,
                f"give one of file, sdl, subgraph_url; got {' and '.join(sources)}",
            )
        if "introspection_headers" in fields and "subgraph_url" not in fields:
            self.fail(
                fields["introspection_headers"][0],
                f"{path}.introspection_headers",
                "only meaningful with schema.subgraph_url",
            )
        if "file" in fields:
            file_node = fields["file"][1]
            schema_file = self.base / self.string(file_node, f"{path}.file").strip()
            return (
                schema_file,
                self.read_sdl(schema_file, file_node, f"{path}.file"),
                None,
            )
        if "sdl" in fields:
            sdl_node = fields["sdl"][1]
            sdl = self.string(sdl_node, f"{path}.sdl")
            self.check_sdl(sdl, None, sdl_node, f"{path}.sdl")
            return None, sdl, None
        if "subgraph_url" in fields:
            url = self.url(fields["subgraph_url"][1], f"{path}.subgraph_url")
            headers_node = fields.get("introspection_headers")
            headers = self.string_map(
                headers_node[1] if headers_node else None,
                f"{path}.introspection_headers",
            )
            return None, None, IntrospectionConfig(url=url, headers=headers)
        return None, None, None

    def read_sdl(self, file: Path, node: Node, path: str) -> str:
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            self.fail(node, path, f"SDL file not found: {file}")
        except IsADirectoryError:
            self.fail(node, path, f"SDL file is a directory: {file}")
        except OSError as exc:
            self.fail(node, path, f"cannot read SDL file {file}: {exc.strerror or exc}")
        try:
            sdl = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"not valid UTF-8 (named by {self.file}:{_line(node)})",
                file=str(file),
                key_path=path,
                line=raw[: exc.start].count(b"\n") + 1,
            ) from None
        self.check_sdl(sdl, file, node, path)
        return sdl

    def check_sdl(self, sdl: str, file: Path | None, node: Node, path: str) -> None:
        """The SDL must parse; errors point into the SDL file itself."""
        try:
            parse(sdl, no_location=True)
        except GraphQLSyntaxError as exc:
            location = exc.locations[0] if exc.locations else None
            if file is None:  # inline sdl: point at the YAML value
                self.fail(node, path, f"invalid SDL: {exc.message}")
            raise ConfigError(
                f"{exc.message} (named by {self.file}:{_line(node)})",
                file=str(file),
                key_path=path,
                line=location.line if location else None,
                column=location.column if location else None,
            ) from None

    def introspection(self, node: Node, path: str) -> IntrospectionConfig:
        fields = self.mapping(node, path, _INTROSPECTION_KEYS)
        if "url" not in fields:
            self.fail(node, f"{path}.url", "missing: the URL to introspect")
        url = self.url(fields["url"][1], f"{path}.url")
        headers_node = fields.get("headers")
        headers = self.string_map(
            headers_node[1] if headers_node else None, f"{path}.headers"
        )
        return IntrospectionConfig(url=url, headers=headers)

    def subscription(self, node: Node, path: str) -> SubscriptionConfig:
        fields = self.mapping(node, path, _SUBSCRIPTION_KEYS)
        protocol = "sse"
        if "protocol" in fields:
            protocol = self.choice(
                fields["protocol"][1],
                f"{path}.protocol",
                SUBSCRIPTION_PROTOCOLS,
                "subscription protocol",
            )
        url = None
        if "url" in fields:
            schemes = (
                ("http", "https", "ws", "wss")
                if protocol == "ws"
                else ("http", "https")
            )
            url = self.url(fields["url"][1], f"{path}.url", schemes)
        spellings = [
            k for k in ("websocketSubprotocol", "websocket_subprotocol") if k in fields
        ]
        if len(spellings) > 1:
            self.fail(
                fields[spellings[1]][0],
                path,
                "give websocketSubprotocol or websocket_subprotocol, not both",
            )
        subprotocol = None
        if spellings:
            subprotocol = self.choice(
                fields[spellings[0]][1],
                f"{path}.{spellings[0]}",
                WEBSOCKET_SUBPROTOCOLS,
                "WebSocket subprotocol",
            )
        return SubscriptionConfig(
            url=url,
            protocol=cast(SubscriptionProtocol, protocol),
            websocket_subprotocol=subprotocol,
        )

    def gateway(
        self, node: Node | None, subgraphs: list[SubgraphConfig]
    ) -> tuple[GatewayConfig, dict[str, tuple[HeaderRule, ...]]]:
        fields = self.optional_mapping(node, "gateway", _GATEWAY_KEYS)
        settings: dict[str, Any] = {}
        readers: dict[str, Callable[[Node, str], Any]] = {
            "host": lambda n, p: self.string(n, p).strip(),
            "port": self.port,
            "graphql_path": self.graphql_path,
            "subgraph_timeout": self.duration,
            "max_request_bytes": self.size,
            "heartbeat_interval": self.duration,
            "max_streams": lambda n, p: self.integer(n, p, minimum=1),
            "max_streams_per_client": lambda n, p: self.integer(n, p, minimum=1),
            "dedup_queries": self.boolean,
            "playground": self.boolean,
            "document_cache_size": lambda n, p: self.integer(n, p, minimum=0),
            "plan_cache_size": lambda n, p: self.integer(n, p, minimum=0),
            "log_level": self.log_level,
        }
        for name, reader in readers.items():
            if name in fields:
                settings[name] = reader(fields[name][1], f"gateway.{name}")
        per_subgraph: dict[str, tuple[HeaderRule, ...]] = {}
        if "headers" in fields:
            settings["headers"], per_subgraph = self.headers(
                fields["headers"][1], "gateway.headers", subgraphs
            )
        return GatewayConfig(**settings), per_subgraph

    def log_level(self, node: Node, path: str) -> str:
        level = self.string(node, path).strip().lower()
        if level not in LOG_LEVELS:
            self.fail(
                node,
                path,
                f"unknown log level {level!r}{_did_you_mean(level, LOG_LEVELS)}; "
                f"expected one of: {', '.join(LOG_LEVELS)}",
            )
        return level

    def port(self, node: Node, path: str) -> int:
        port = self.integer(node, path)
        if port > 65535:
            self.fail(node, path, f"{port} is not a TCP port (0-65535)")
        return port

    def graphql_path(self, node: Node, path: str) -> str:
        text = self.string(node, path).strip()
        if not text.startswith("/") or any(c in text for c in "?# "):
            self.fail(node, path, f"expected a URL path such as /graphql, got {text!r}")
        return text

    def headers(
        self, node: Node, path: str, subgraphs: list[SubgraphConfig]
    ) -> tuple[tuple[HeaderRule, ...], dict[str, tuple[HeaderRule, ...]]]:
        fields = self.optional_mapping(node, path, ("all", "subgraphs"))
        everywhere: tuple[HeaderRule, ...] = ()
        if "all" in fields:
            everywhere = self.header_section(fields["all"][1], f"{path}.all")
        per_subgraph: dict[str, tuple[HeaderRule, ...]] = {}
        if "subgraphs" in fields and not _is_null(fields["subgraphs"][1]):
            names = [s.name for s in subgraphs]
            sub_path = f"{path}.subgraphs"
            for name, (key, value) in self.pairs(
                fields["subgraphs"][1], sub_path
            ).items():
                if name not in names:
                    self.fail(
                        key,
                        f"{sub_path}.{name}",
                        f"no subgraph named {name!r}{_did_you_mean(name, names)}",
                    )
                per_subgraph[name] = self.header_section(value, f"{sub_path}.{name}")
        return everywhere, per_subgraph

    def header_section(self, node: Node, path: str) -> tuple[HeaderRule, ...]:
        fields = self.optional_mapping(node, path, ("request",))
        if "request" not in fields or _is_null(fields["request"][1]):
            return ()
        rules_node = fields["request"][1]
        rules_path = f"{path}.request"
        if not isinstance(rules_node, SequenceNode):
            self.fail(
                rules_node,
                rules_path,
                f"expected a list of rules, got {_kind(rules_node)}",
            )
        return tuple(
            self.header_rule(item, f"{rules_path}[{index}]")
            for index, item in enumerate(rules_node.value)
        )

    def header_rule(self, node: Node, path: str) -> HeaderRule:
        fields = self.pairs(node, path, "a header rule mapping")
        if "op" not in fields:
            self.fail(node, f"{path}.op", "missing: propagate or set")
        op = self.choice(
            fields["op"][1], f"{path}.op", ("propagate", "set"), "header op"
        )
        fields = self.mapping(
            node, path, _PROPAGATE_KEYS if op == "propagate" else _SET_KEYS
        )

        def text(key: str, *, header: bool = False) -> str | None:
            if key not in fields:
                return None
            value = fields[key][1]
            if header:
                return self.header_name(value, f"{path}.{key}")
            return self.string(value, f"{path}.{key}", empty=True)

        if op == "set":
            for key in ("name", "value"):
                if key not in fields:
                    self.fail(
                        node,
                        f"{path}.{key}",
                        "missing: a set rule needs name and value",
                    )
            return HeaderRule(
                op="set", name=text("name", header=True), value=text("value")
            )
        if ("named" in fields) == ("matching" in fields):
            self.fail(
                node,
                path,
                "a propagate rule needs exactly one of named (a header) "
                "or matching (a regex)",
            )
        matching = None
        if "matching" in fields:
            pattern_node = fields["matching"][1]
            pattern = self.string(pattern_node, f"{path}.matching")
            try:
                matching = re.compile(pattern)
            except re.error as exc:
                self.fail(
                    pattern_node,
                    f"{path}.matching",
                    f"invalid regex {pattern!r}: {exc}",
                )
        if "default" in fields and "named" not in fields:
            self.fail(
                fields["default"][0],
                f"{path}.default",
                "default applies to a rule with named, not matching",
            )
        return HeaderRule(
            op="propagate",
            named=text("named", header=True),
            matching=matching,
            rename=text("rename", header=True),
            default=text("default"),
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_of(node: Node, text: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
        return f"the string {text!r}"
    return _kind(node)


def _require_mapping(loader: _Loader, node: Node, path: str) -> Node:
    if not isinstance(node, MappingNode):
        loader.fail(node, path, f"expected a mapping, got {_kind(node)}")
    return node
