"""The supergraph.yaml grammar: Cosmo's and rover's input plus ours, read into the model.

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

* ``supergraph: FILE`` (or ``{file: FILE}``): an Apollo-composed supergraph SDL (the
  ``join__`` directives rover, Apollo Router and Hive Gateway read) names the
  subgraphs, their URLs and their schemas; ``subgraphs`` then becomes optional, and
  an entry there only says how to reach a subgraph of the supergraph
  (``routing_url`` or ``module``, ``subscription``, ``timeout``), never its schema.

* ``module: package.module:factory`` instead of ``routing_url`` runs the subgraph
  in-process (exactly one of the two); ``options: {...}`` is passed to the factory and
  ``schema`` is optional because the module supplies its SDL. Switching to a remote
  subgraph is one line: replace ``module:`` by ``routing_url: http://host:port/graphql``
  (``subscription``/``introspection``/``timeout`` may stay in place; they apply when the
  entry is remote).
* ``max_response_bytes`` per subgraph: the largest answer read from it (default
  ``gateway.limits.subgraph_max_response_bytes``).
* ``timeout`` per subgraph: seconds (``30``, ``2.5``) or a duration string (``"30s"``,
  ``"500ms"``, ``"1m30s"``; units ``ms``, ``s``, ``m``, ``h``).
* ``subscription.protocol`` defaults to ``sse`` (Cosmo's default is ``ws``; ours is the
  protocol our subgraph servers are simplest to reach with); ``ws`` streams over
  WebSocket (``gateway.transports.ws``). ``subscription.url`` may be ``ws(s)://`` only
  with ``protocol: ws``.
* ``gateway:`` (optional): ``host`` (127.0.0.1), ``port`` (4000), ``graphql_path``
  (/graphql), ``subgraph_timeout`` (30s), ``max_request_bytes`` (5 MB; an int or
  ``"5MB"``/``"512KB"``, 1 KB = 1024 bytes), ``heartbeat_interval`` (30s),
  ``multipart_heartbeat_interval`` (5s: the ``{}`` part of an idle multipart stream),
  ``max_streams`` (10000 open SSE streams in total), ``max_streams_per_client`` (100),
  ``dedup_queries`` (true: identical queries in flight to a subgraph share one
  request), ``dedup_requests`` (true: identical client queries in flight share one
  execution and answer), ``fast_path`` (true: plain GraphQL POSTs are answered by
  the gateway's own HTTP/1.1 front, everything else by aiohttp; false: aiohttp
  answers every request), ``playground`` (true), ``expose_query_plans`` (true
  when ``host`` is a loopback address: a request with ``Apollo-Expose-Query-Plan:
  true`` or ``X-WG-Include-Query-Plan: true`` gets ``extensions.queryPlan``),
  ``document_cache_size`` and
  ``plan_cache_size`` (1024), ``log_level`` (info), ``limits`` and ``headers``: Cosmo-style rules
  under ``all.request`` (every subgraph) and ``subgraphs.<name>.request``; a rule is
  ``{op: propagate, named: X-Id | matching: <regex>, rename?, default?}`` or
  ``{op: set, name: X-Gateway, value: ...}``.
  See https://cosmo-docs.wundergraph.com/router/proxy-capabilities
* ``gateway:`` also takes ``access_log`` (true), ``log_format`` (text | json),
  ``telemetry.metrics.prometheus`` (see ``gateway.config.telemetry``),
  ``startup_wait`` (30s: how long a remote subgraph's introspection is retried at
  start-up), ``watch`` (false: reload on file changes) and
  ``introspection_poll_interval`` (0: off).
* ``feature_flags`` (Cosmo): ``[{name, feature_graphs: [{name, subgraph_name,
  routing_url | module, schema...}]}]``; each flag's graph is the base subgraphs with
  ``subgraph_name`` replaced by its feature subgraph.
* Subgraphs the gateway cannot serve (``grpc:``, ``plugin:``, event-driven: no
  ``routing_url`` and ``@edfs__`` directives in the schema file) are an error naming
  the entry, or are left out with ``skip_unsupported`` (``--skip-unsupported``).
* ``gateway.persisted_operations`` (Cosmo's name): ``manifest`` (a JSON file: Apollo's
  persisted query manifest or ``{hash: document}``) or ``directory`` (``<hash>.graphql``
  files or Cosmo's ``<hash>.json``), and ``block_non_persisted_operations`` (false).
  ``gateway.automatic_persisted_queries``: ``enabled`` (true), ``cache.size`` (16 MB).
* Security settings under ``gateway:`` (docs/security.md): ``roots`` (directories, or
  one; relative to the YAML file; ``~`` expanded; each must exist), ``allowed_hosts``
  (host names, ``*.suffix`` or ``"*"``), ``cors`` with Cosmo's keys ``enabled``,
  ``allow_origins`` (``*`` wildcards: ``http://localhost:*``), ``allow_methods``,
  ``allow_headers``, ``allow_credentials``, ``max_age`` (a duration),
  ``csrf_prevention`` (true), ``dev_mode`` (false) and ``subgraph_error_propagation``
  (Cosmo's name) with ``allowed_extension_fields`` (``code`` is always added;
  ``stacktrace``/``exception`` are refused: use ``dev_mode``),
  ``default_extension_code`` (DOWNSTREAM_SERVICE_ERROR), ``attach_service_name``.
  See https://cosmo-docs.wundergraph.com/router/configuration
* ``gateway.limits`` (optional): operation limits ``max_tokens`` (15000), ``depth``
  (32), ``aliases`` (100), ``root_fields`` (64), ``total_fields`` (2000),
  ``complexity`` (1000000), each an integer or Cosmo's ``{enabled, limit}``, and
  ``default_list_size`` (10, for complexity); ``document_cache_bytes`` and
  ``plan_cache_bytes`` (32MB each), ``subgraph_max_response_bytes`` (64MB),
  ``body_read_timeout`` (30s), ``keepalive_timeout`` (15s) and
  ``block_non_persisted_operations`` (false; also accepted under
  ``gateway.persisted_operations``). See ``gateway.limits``.
* ``authentication`` (``jwt``: JWKS sources, algorithms, header, issuer, audience,
  clock skew, scope claim) and ``authorization`` (``require_authentication``,
  ``reject_unauthorized``, ``close_expired_streams``, ``requires_scopes``):
  ``gateway.config.auth`` and docs/auth.md. A header ``set`` rule may take
  ``expression: request.auth.claims.<claim>`` instead of ``value``.
* ``${VAR}`` and ``${VAR:-default}`` are expanded in every string value (never in
  keys) from the environment; the default applies when VAR is unset or empty, an unset
  ``${VAR}`` without default is an error, and ``$${VAR}`` is a literal ``${VAR}``.
  Where a number or a boolean is expected, a string that spells one is converted.
* Relative file paths are relative to the directory of the YAML file.

Every mistake raises ``ConfigError``, one line: ``file:line:column: key.path: what``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from graphql import GraphQLSyntaxError, parse
from yaml.nodes import MappingNode, Node, SequenceNode

from gateway.config.auth import read_authentication, read_authorization
from gateway.config.located import (
    LocatedReader,
    Pairs,
    did_you_mean,
    is_null,
    kind,
    line_of,
    read_yaml,
)
from gateway.config.model import (
    EMPTY_MAPPING,
    LOG_LEVELS,
    SUBSCRIPTION_PROTOCOLS,
    WEBSOCKET_SUBPROTOCOLS,
    Config,
    CorsConfig,
    FeatureFlag,
    GatewayConfig,
    HeaderRule,
    IntrospectionConfig,
    LimitsConfig,
    PersistedOperationsConfig,
    SubgraphConfig,
    SubgraphErrorPropagation,
    SubscriptionConfig,
    SubscriptionProtocol,
)
from gateway.config.supergraph_file import subgraphs_from_supergraph
from gateway.config.telemetry import read_telemetry
from gateway.errors import ConfigError
from gateway.limits import OperationLimits

__all__ = ["load_config"]


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    skip_unsupported: bool = False,
) -> Config:
    """Read supergraph.yaml at ``path``; ``${VAR}`` comes from ``environ``
    (default ``os.environ``). Raises ``ConfigError`` on any mistake; a subgraph of a
    kind the gateway does not serve (event-driven, gRPC, plugin) is one too, or,
    with ``skip_unsupported``, is left out and named in ``Config.skipped``."""
    file = Path(path)
    root = read_yaml(file, str(path))
    grammar = _Grammar(
        str(path),
        file.resolve().parent,
        os.environ if environ is None else environ,
    )
    grammar.skip_unsupported = skip_unsupported
    return grammar.config(root, file.resolve())


_MODULE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?"
)
_SUBGRAPH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FEDERATION_VERSION = re.compile(r"=?\d+(\.\d+){0,2}")

_TOP_KEYS = (
    "version",
    "federation_version",
    "supergraph",
    "subgraphs",
    "gateway",
    "feature_flags",
)
_FEATURE_FLAG_KEYS = ("name", "feature_graphs")
_EDFS = re.compile(r"@edfs__\w+")
_SUBGRAPH_KEYS = (
    "routing_url",
    "module",
    "options",
    "schema",
    "subscription",
    "introspection",
    "timeout",
    "max_response_bytes",
)
_SCHEMA_KEYS = ("file", "sdl", "subgraph_url", "introspection_headers")
_SUBSCRIPTION_KEYS = (
    "url",
    "protocol",
    "websocketSubprotocol",
    "websocket_subprotocol",
)
_INTROSPECTION_KEYS = ("url", "headers")
_OPERATION_LIMIT_KEYS = (
    "max_tokens",
    "depth",
    "aliases",
    "root_fields",
    "total_fields",
    "complexity",
)
_LIMITS_KEYS = (
    *_OPERATION_LIMIT_KEYS,
    "default_list_size",
    "document_cache_bytes",
    "plan_cache_bytes",
    "subgraph_max_response_bytes",
    "body_read_timeout",
    "keepalive_timeout",
    "block_non_persisted_operations",
)
_GATEWAY_KEYS = (
    "host",
    "port",
    "graphql_path",
    "subgraph_timeout",
    "max_request_bytes",
    "heartbeat_interval",
    "multipart_heartbeat_interval",
    "max_streams",
    "max_streams_per_client",
    "dedup_queries",
    "dedup_requests",
    "fast_path",
    "playground",
    "expose_query_plans",
    "document_cache_size",
    "plan_cache_size",
    "limits",
    "headers",
    "log_level",
    "access_log",
    "log_format",
    "telemetry",
    "startup_wait",
    "watch",
    "introspection_poll_interval",
    "allowed_hosts",
    "cors",
    "csrf_prevention",
    "dev_mode",
    "subgraph_error_propagation",
    "roots",
    "persisted_operations",
    "automatic_persisted_queries",
    "authentication",
    "authorization",
)
_PERSISTED_KEYS = ("manifest", "directory", "block_non_persisted_operations")
_APQ_KEYS = ("enabled", "cache")
_CORS_KEYS = (
    "enabled",
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "max_age",
)
_ERROR_PROPAGATION_KEYS = (
    "allowed_extension_fields",
    "default_extension_code",
    "attach_service_name",
)
_NEVER_PROPAGATED = ("stacktrace", "exception")
_HOST_PATTERN = re.compile(
    r"(\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])"
)
_ORIGIN_PATTERN = re.compile(r"\*|null|[a-z][a-z0-9+.-]*://[^/?#\s]+")
_METHOD = re.compile(r"[A-Z]+")
_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROPAGATE_KEYS = ("op", "named", "matching", "rename", "default")
_SET_KEYS = ("op", "name", "value", "expression")
_CLAIM_EXPRESSION = re.compile(
    r"(?:request\.auth\.)?claims\.([A-Za-z_][A-Za-z0-9_:-]*(?:\.[A-Za-z_][A-Za-z0-9_:-]*)*)"
)


class _Grammar(LocatedReader):
    """The sections of supergraph.yaml, built into the model."""

    skip_unsupported = False
    skipped: list[str]

    def config(self, root: Node | None, path: Path) -> Config:
        if is_null(root):
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
        from_supergraph = None
        if "supergraph" in top:
            from_supergraph = self.supergraph(top["supergraph"][1])
        if "subgraphs" not in top and from_supergraph is None:
            self.fail(root, "subgraphs", "missing: list the subgraphs to compose")
        self.skipped = []
        if "subgraphs" in top:
            key, node = top["subgraphs"]
            subgraphs = self.subgraphs(key, node)
            if from_supergraph is not None:
                subgraphs = self.reach_supergraph(from_supergraph, subgraphs)
        else:
            assert from_supergraph is not None
            subgraphs = list(from_supergraph)
        gateway_node = top["gateway"][1] if "gateway" in top else None
        gateway, per_subgraph = self.gateway(gateway_node, subgraphs)
        if per_subgraph:
            subgraphs = [
                dataclasses.replace(s, headers=per_subgraph.get(s.name, ()))
                for s in subgraphs
            ]
        flags: tuple[FeatureFlag, ...] = ()
        if "feature_flags" in top:
            flags = self.feature_flags(top["feature_flags"][1], subgraphs)
        return Config(
            path=path,
            subgraphs=tuple(subgraphs),
            gateway=gateway,
            version=version,
            federation_version=federation_version,
            feature_flags=flags,
            skipped=tuple(self.skipped),
        )

    def feature_flags(
        self, node: Node, subgraphs: list[SubgraphConfig]
    ) -> tuple[FeatureFlag, ...]:
        """Cosmo's ``feature_flags``: ``[{name, feature_graphs: [{name,
        subgraph_name, routing_url, schema...}]}]``.
        See https://cosmo-docs.wundergraph.com/concepts/feature-flags"""
        if is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            self.fail(node, "feature_flags", f"expected a list, got {kind(node)}")
        base = {s.name for s in subgraphs}
        flags: list[FeatureFlag] = []
        seen: set[str] = set()
        for index, item in enumerate(node.value):
            path = f"feature_flags[{index}]"
            fields = self.mapping(item, path, _FEATURE_FLAG_KEYS, "a feature flag")
            if "name" not in fields:
                self.fail(
                    item, f"{path}.name", "missing: every feature flag needs a name"
                )
            name = self.string(fields["name"][1], f"{path}.name").strip()
            if name in seen:
                self.fail(
                    fields["name"][1],
                    f"{path}.name",
                    f"duplicate feature flag {name!r}",
                )
            seen.add(name)
            path = f"feature_flags.{name}"
            if "feature_graphs" not in fields or not isinstance(
                fields["feature_graphs"][1], SequenceNode
            ):
                self.fail(
                    item,
                    f"{path}.feature_graphs",
                    "expected a list of feature subgraphs",
                )
            graphs: list[SubgraphConfig] = []
            replaces: dict[str, str] = {}
            for g_index, entry in enumerate(fields["feature_graphs"][1].value):
                g_path = f"{path}.feature_graphs[{g_index}]"
                g_fields = self.pairs(entry, g_path, "a feature subgraph")
                for required in ("name", "subgraph_name"):
                    if required not in g_fields:
                        self.fail(entry, f"{g_path}.{required}", "missing")
                g_name = self.subgraph_name(g_fields["name"][1], f"{g_path}.name")
                target_node = g_fields["subgraph_name"][1]
                target = self.string(target_node, f"{g_path}.subgraph_name").strip()
                if target not in base:
                    self.fail(
                        target_node,
                        f"{g_path}.subgraph_name",
                        f"no subgraph named {target!r}{did_you_mean(target, base)}",
                    )
                if target in replaces.values():
                    self.fail(
                        target_node,
                        f"{g_path}.subgraph_name",
                        f"{target!r} is already replaced in this feature flag",
                    )
                graph = self.subgraph(
                    g_name, entry, g_path, entry, in_list=True, extra=("subgraph_name",)
                )
                replaces[g_name] = target
                graphs.append(graph)
            flags.append(
                FeatureFlag(
                    name=name,
                    subgraphs=tuple(graphs),
                    replaces=MappingProxyType(replaces),
                    line=line_of(item),
                )
            )
        return tuple(flags)

    def unsupported(self, fields: Pairs, name: str) -> str | None:
        """Why the gateway cannot serve this entry, or None."""
        if "grpc" in fields:
            return (
                f"subgraph {name!r} is a gRPC subgraph: not supported by this gateway"
            )
        if "plugin" in fields:
            return (
                f"subgraph {name!r} is a router plugin: not supported by this gateway"
            )
        if "routing_url" in fields or "module" in fields:
            return None
        schema = fields.get("schema")
        if schema is None or not isinstance(schema[1], MappingNode):
            return None
        schema_fields = self.pairs(schema[1], f"subgraphs.{name}.schema")
        if "file" not in schema_fields:
            return None
        try:
            file = self.base / self.string(schema_fields["file"][1], "file").strip()
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        if _EDFS.search(text):
            return (
                f"subgraph {name!r} is event-driven (EDFS: no routing_url, "
                "@edfs__ directives): not supported by this gateway"
            )
        return None

    def skip_or_fail(self, anchor: Node, path: str, reason: str) -> None:
        if self.skip_unsupported:
            self.skipped.append(f"{self.file}:{line_of(anchor)}: {path}: {reason}")
            return
        self.fail(anchor, path, f"{reason}; leave it out with --skip-unsupported")

    def supergraph(self, node: Node) -> tuple[SubgraphConfig, ...]:
        """``supergraph: FILE`` or ``supergraph: {file: FILE}``: an Apollo-composed
        supergraph SDL whose ``join__`` directives name the subgraphs."""
        if isinstance(node, MappingNode):
            fields = self.mapping(node, "supergraph", ("file",))
            if "file" not in fields:
                self.fail(node, "supergraph.file", "missing: the supergraph SDL file")
            node = fields["file"][1]
        text = self.string(node, "supergraph").strip()
        file = self.base / text
        try:
            return subgraphs_from_supergraph(file, str(file))
        except ConfigError as exc:
            raise ConfigError(
                f"{exc} (named by {self.file}:{line_of(node)})",
                file=exc.file,
                key_path="supergraph",
                line=exc.line,
            ) from None

    def reach_supergraph(
        self,
        from_supergraph: tuple[SubgraphConfig, ...],
        entries: list[SubgraphConfig],
    ) -> list[SubgraphConfig]:
        """With ``supergraph:``, ``subgraphs`` entries say how to reach a subgraph
        (routing_url or module, subscription, timeout); its schema comes from the
        supergraph."""
        by_name = {s.name: s for s in from_supergraph}
        overrides: dict[str, SubgraphConfig] = {}
        for entry in entries:
            path = f"subgraphs.{entry.name}"
            if entry.name not in by_name:
                raise ConfigError(
                    f"the supergraph has no subgraph {entry.name!r}"
                    f"{did_you_mean(entry.name, by_name)}",
                    file=self.file,
                    key_path=path,
                    line=entry.line,
                )
            if entry.sdl is not None or entry.introspection is not None:
                raise ConfigError(
                    "the schema comes from the supergraph: remove schema/"
                    "introspection here",
                    file=self.file,
                    key_path=path,
                    line=entry.line,
                )
            overrides[entry.name] = entry
        return [
            dataclasses.replace(overrides[s.name], sdl=s.sdl)
            if s.name in overrides
            else s
            for s in from_supergraph
        ]

    def subgraphs(self, key: Node, node: Node) -> list[SubgraphConfig]:
        # name, the node naming it, the entry, its key path, where the entry starts
        entries: list[tuple[str, Node, Node, str, Node]] = []
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                item_path = f"subgraphs[{index}]"
                fields = self.pairs(item, item_path, "a subgraph mapping")
                if "name" not in fields and "plugin" in fields:
                    self.skip_or_fail(
                        item,
                        item_path,
                        self.unsupported(fields, f"plugin #{index}") or "",
                    )
                    continue
                if "name" not in fields:
                    self.fail(
                        item,
                        f"{item_path}.name",
                        "missing: every subgraph needs a name",
                    )
                name_node = fields["name"][1]
                name = self.subgraph_name(name_node, f"{item_path}.name")
                reason = self.unsupported(fields, name)
                if reason is not None:
                    self.skip_or_fail(item, f"subgraphs.{name}", reason)
                    continue
                entries.append((name, name_node, item, f"subgraphs.{name}", item))
        elif isinstance(node, MappingNode):
            for name, (name_key, item) in self.pairs(node, "subgraphs").items():
                self.subgraph_name(name_key, f"subgraphs.{name}")
                if isinstance(item, MappingNode):
                    reason = self.unsupported(
                        self.pairs(item, f"subgraphs.{name}"), name
                    )
                    if reason is not None:
                        self.skip_or_fail(name_key, f"subgraphs.{name}", reason)
                        continue
                entries.append((name, name_key, item, f"subgraphs.{name}", name_key))
        elif is_null(node):
            entries = []
        else:
            self.fail(
                node, "subgraphs", f"expected a list or a mapping, got {kind(node)}"
            )
        if not entries:
            self.fail(
                node if not is_null(node) else key,
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
                    f"(first at line {line_of(seen[name])})",
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
        self,
        name: str,
        node: Node,
        path: str,
        anchor: Node,
        *,
        in_list: bool,
        extra: tuple[str, ...] = (),
    ) -> SubgraphConfig:
        allowed = (("name", *_SUBGRAPH_KEYS) if in_list else _SUBGRAPH_KEYS) + extra
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
        options: Mapping[str, Any] = EMPTY_MAPPING
        options_node = value("options")
        if options_node is not None and not is_null(options_node):
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
        if introspection_node is not None and not is_null(introspection_node):
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
        if subscription_node is not None and not is_null(subscription_node):
            subscription = self.subscription(subscription_node, f"{path}.subscription")
        timeout_node = value("timeout")
        timeout = (
            self.duration(timeout_node, f"{path}.timeout")
            if timeout_node is not None
            else None
        )
        size_node = value("max_response_bytes")
        max_response_bytes = (
            self.size(size_node, f"{path}.max_response_bytes")
            if size_node is not None
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
            line=line_of(anchor),
            max_response_bytes=max_response_bytes,
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
                f"not valid UTF-8 (named by {self.file}:{line_of(node)})",
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
                f"{exc.message} (named by {self.file}:{line_of(node)})",
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
            "multipart_heartbeat_interval": self.duration,
            "max_streams": lambda n, p: self.integer(n, p, minimum=1),
            "max_streams_per_client": lambda n, p: self.integer(n, p, minimum=1),
            "dedup_queries": self.boolean,
            "dedup_requests": self.boolean,
            "fast_path": self.boolean,
            "playground": self.boolean,
            "expose_query_plans": self.boolean,
            "document_cache_size": lambda n, p: self.integer(n, p, minimum=0),
            "plan_cache_size": lambda n, p: self.integer(n, p, minimum=0),
            "log_level": self.log_level,
            "access_log": self.boolean,
            "log_format": lambda n, p: self.choice(
                n, p, ("text", "json"), "log format"
            ),
            "telemetry": lambda n, p: read_telemetry(self, n, p),
            "startup_wait": self.duration,
            "watch": self.boolean,
            "introspection_poll_interval": self.duration,
            "allowed_hosts": self.allowed_hosts,
            "cors": self.cors,
            "csrf_prevention": self.boolean,
            "dev_mode": self.boolean,
            "subgraph_error_propagation": self.error_propagation,
            "roots": self.roots,
            "authentication": lambda n, p: read_authentication(self, n, p),
            "authorization": lambda n, p: read_authorization(self, n, p),
        }
        for name, reader in readers.items():
            if name in fields:
                settings[name] = reader(fields[name][1], f"gateway.{name}")
        if "persisted_operations" in fields or "automatic_persisted_queries" in fields:
            settings["persisted"] = self.persisted(
                fields.get("persisted_operations", (None, None))[1],
                fields.get("automatic_persisted_queries", (None, None))[1],
            )
        if "limits" in fields:
            settings["limits"] = self.limits(fields["limits"][1], "gateway.limits")
        per_subgraph: dict[str, tuple[HeaderRule, ...]] = {}
        if "headers" in fields:
            settings["headers"], per_subgraph = self.headers(
                fields["headers"][1], "gateway.headers", subgraphs
            )
        return GatewayConfig(**settings), per_subgraph

    def persisted(
        self, node: Node | None, apq_node: Node | None
    ) -> PersistedOperationsConfig:
        path = "gateway.persisted_operations"
        fields = self.optional_mapping(node, path, _PERSISTED_KEYS)
        settings: dict[str, Any] = {}
        sources = [k for k in ("manifest", "directory") if k in fields]
        if len(sources) > 1:
            self.fail(fields[sources[1]][0], path, "give one of manifest, directory")
        if sources:
            _, value = fields[sources[0]]
            where = f"{path}.{sources[0]}"
            location = self.base / self.string(value, where).strip()
            if not location.exists():
                self.fail(value, where, f"{location} does not exist")
            if (sources[0] == "directory") != location.is_dir():
                kind = "a directory" if sources[0] == "directory" else "a JSON file"
                self.fail(value, where, f"{location} is not {kind}")
            settings["manifest"] = location
        if "block_non_persisted_operations" in fields:
            settings["block_non_persisted_operations"] = self.boolean(
                fields["block_non_persisted_operations"][1],
                f"{path}.block_non_persisted_operations",
            )
        apq_path = "gateway.automatic_persisted_queries"
        apq = self.optional_mapping(apq_node, apq_path, _APQ_KEYS)
        if "enabled" in apq:
            settings["apq"] = self.boolean(apq["enabled"][1], f"{apq_path}.enabled")
        if "cache" in apq:
            cache = self.mapping(apq["cache"][1], f"{apq_path}.cache", ("size",))
            if "size" in cache:
                settings["apq_cache_bytes"] = self.size(
                    cache["size"][1], f"{apq_path}.cache.size"
                )
        return PersistedOperationsConfig(**settings)

    def strings(
        self, node: Node, path: str, *, one: bool = True
    ) -> list[tuple[Node, str]]:
        """A list of strings (or, with ``one``, a single string) with their nodes."""
        if not isinstance(node, SequenceNode):
            if one and not isinstance(node, MappingNode) and not is_null(node):
                return [(node, self.string(node, path).strip())]
            self.fail(node, path, f"expected a list of strings, got {kind(node)}")
        return [
            (item, self.string(item, f"{path}[{index}]").strip())
            for index, item in enumerate(node.value)
        ]

    def allowed_hosts(self, node: Node, path: str) -> tuple[str, ...]:
        hosts: list[str] = []
        for item, text in self.strings(node, path):
            host = text.lower()
            if not _HOST_PATTERN.fullmatch(host):
                self.fail(
                    item,
                    path,
                    f"expected a host name such as dev.example.test, *.example.test "
                    f"or [::1] (no scheme, port or path), got {text!r}",
                )
            hosts.append(host)
        return tuple(hosts)

    def cors(self, node: Node, path: str) -> CorsConfig:
        fields = self.optional_mapping(node, path, _CORS_KEYS)
        settings: dict[str, Any] = {}
        for key in ("enabled", "allow_credentials"):
            if key in fields:
                settings[key] = self.boolean(fields[key][1], f"{path}.{key}")
        if "max_age" in fields:
            settings["max_age"] = round(
                self.duration(fields["max_age"][1], f"{path}.max_age")
            )
        if "allow_origins" in fields:
            origins: list[str] = []
            key_path = f"{path}.allow_origins"
            for item, text in self.strings(fields["allow_origins"][1], key_path):
                origin = text.lower().rstrip("/")
                if not _ORIGIN_PATTERN.fullmatch(origin):
                    self.fail(
                        item,
                        key_path,
                        f"expected an origin such as http://localhost:3000 or "
                        f"http://localhost:* (scheme://host[:port]), got {text!r}",
                    )
                origins.append(origin)
            settings["allow_origins"] = tuple(origins)
        if "allow_methods" in fields:
            methods: list[str] = []
            key_path = f"{path}.allow_methods"
            for item, text in self.strings(fields["allow_methods"][1], key_path):
                method = text.upper()
                if not _METHOD.fullmatch(method):
                    self.fail(item, key_path, f"{text!r} is not an HTTP method")
                methods.append(method)
            settings["allow_methods"] = tuple(methods)
        if "allow_headers" in fields:
            key_path = f"{path}.allow_headers"
            settings["allow_headers"] = tuple(
                text if text == "*" else self.header_name(item, key_path)
                for item, text in self.strings(fields["allow_headers"][1], key_path)
            )
        return CorsConfig(**settings)

    def error_propagation(self, node: Node, path: str) -> SubgraphErrorPropagation:
        fields = self.optional_mapping(node, path, _ERROR_PROPAGATION_KEYS)
        settings: dict[str, Any] = {}
        if "allowed_extension_fields" in fields:
            key_path = f"{path}.allowed_extension_fields"
            names: list[str] = []
            for item, text in self.strings(
                fields["allowed_extension_fields"][1], key_path
            ):
                if text in _NEVER_PROPAGATED:
                    self.fail(
                        item,
                        key_path,
                        f"{text!r} is never sent to clients (it shows the "
                        "subgraph's internals); set gateway.dev_mode: true to see it",
                    )
                names.append(text)
            if "code" not in names:
                names.insert(0, "code")
            settings["allowed_extension_fields"] = tuple(names)
        if "default_extension_code" in fields:
            code_node = fields["default_extension_code"][1]
            key_path = f"{path}.default_extension_code"
            code = self.string(code_node, key_path).strip()
            if not _CODE.fullmatch(code):
                self.fail(
                    code_node,
                    key_path,
                    f"expected a code such as SUBGRAPH_ERROR, got {code!r}",
                )
            settings["default_extension_code"] = code
        if "attach_service_name" in fields:
            settings["attach_service_name"] = self.boolean(
                fields["attach_service_name"][1], f"{path}.attach_service_name"
            )
        return SubgraphErrorPropagation(**settings)

    def roots(self, node: Node, path: str) -> tuple[Path, ...]:
        roots: list[Path] = []
        for item, text in self.strings(node, path):
            root = Path(os.path.realpath(self.base / Path(text).expanduser()))
            if not root.is_dir():
                self.fail(item, path, f"{text!r} is not a directory ({root})")
            roots.append(root)
        if not roots:
            self.fail(node, path, "is empty: name at least one directory")
        return tuple(roots)

    def limits(self, node: Node, path: str) -> LimitsConfig:
        """``gateway.limits``. An operation limit is an integer, or Cosmo's
        ``{enabled: bool, limit: int}``; ``enabled: false`` turns it off."""
        fields = self.optional_mapping(node, path, _LIMITS_KEYS)
        operation: dict[str, Any] = {}
        for name in _OPERATION_LIMIT_KEYS:
            if name in fields:
                operation[name] = self.operation_limit(
                    fields[name][1], f"{path}.{name}"
                )
        if "default_list_size" in fields:
            operation["default_list_size"] = self.integer(
                fields["default_list_size"][1], f"{path}.default_list_size", minimum=1
            )
        settings: dict[str, Any] = {"operation": OperationLimits(**operation)}
        if "block_non_persisted_operations" in fields:
            settings["block_non_persisted_operations"] = self.boolean(
                fields["block_non_persisted_operations"][1],
                f"{path}.block_non_persisted_operations",
            )
        readers: dict[str, Callable[[Node, str], Any]] = {
            "document_cache_bytes": self.size,
            "plan_cache_bytes": self.size,
            "subgraph_max_response_bytes": self.size,
            "body_read_timeout": self.duration,
            "keepalive_timeout": self.duration,
        }
        for name, reader in readers.items():
            if name in fields:
                settings[name] = reader(fields[name][1], f"{path}.{name}")
        return LimitsConfig(**settings)

    def operation_limit(self, node: Node, path: str) -> int | None:
        if not isinstance(node, MappingNode):
            return self.integer(node, path, minimum=1)
        fields = self.mapping(node, path, ("enabled", "limit"))
        enabled = (
            self.boolean(fields["enabled"][1], f"{path}.enabled")
            if "enabled" in fields
            else True
        )
        if not enabled:
            return None
        if "limit" not in fields:
            self.fail(node, f"{path}.limit", "missing: the limit to apply")
        return self.integer(fields["limit"][1], f"{path}.limit", minimum=1)

    def log_level(self, node: Node, path: str) -> str:
        level = self.string(node, path).strip().lower()
        if level not in LOG_LEVELS:
            self.fail(
                node,
                path,
                f"unknown log level {level!r}{did_you_mean(level, LOG_LEVELS)}; "
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
        if "subgraphs" in fields and not is_null(fields["subgraphs"][1]):
            names = [s.name for s in subgraphs]
            sub_path = f"{path}.subgraphs"
            for name, (key, value) in self.pairs(
                fields["subgraphs"][1], sub_path
            ).items():
                if name not in names:
                    self.fail(
                        key,
                        f"{sub_path}.{name}",
                        f"no subgraph named {name!r}{did_you_mean(name, names)}",
                    )
                per_subgraph[name] = self.header_section(value, f"{sub_path}.{name}")
        return everywhere, per_subgraph

    def header_section(self, node: Node, path: str) -> tuple[HeaderRule, ...]:
        fields = self.optional_mapping(node, path, ("request",))
        if "request" not in fields or is_null(fields["request"][1]):
            return ()
        rules_node = fields["request"][1]
        rules_path = f"{path}.request"
        if not isinstance(rules_node, SequenceNode):
            self.fail(
                rules_node,
                rules_path,
                f"expected a list of rules, got {kind(rules_node)}",
            )
        return tuple(
            self.header_rule(item, f"{rules_path}[{index}]")
            for index, item in enumerate(rules_node.value)
        )

    def claim_expression(self, node: Node, path: str) -> str:
        """Cosmo's ``request.auth.claims.sub``: the claim path."""
        text = self.string(node, path).strip()
        match = _CLAIM_EXPRESSION.fullmatch(text)
        if match is None:
            self.fail(node, path, _claim_expression_error(text))
        return match.group(1)

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
            if "name" not in fields or ("value" in fields) == ("expression" in fields):
                self.fail(
                    node,
                    path,
                    "a set rule needs name and value (or name and expression, not both)",
                )
            claim = None
            if "expression" in fields:
                claim = self.claim_expression(
                    fields["expression"][1], f"{path}.expression"
                )
            return HeaderRule(
                op="set",
                name=text("name", header=True),
                value=text("value"),
                claim=claim,
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


def _claim_expression_error(text: str) -> str:
    return (
        f"expected request.auth.claims.<claim> (a dotted path, e.g. "
        f"request.auth.claims.sub), got {text!r}"
    )


def _require_mapping(loader: LocatedReader, node: Node, path: str) -> Node:
    if not isinstance(node, MappingNode):
        loader.fail(node, path, f"expected a mapping, got {kind(node)}")
    return node
