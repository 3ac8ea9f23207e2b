"""The supergraph.yaml model: frozen dataclasses, the whole configuration of a gateway."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from gateway.config.auth import AuthenticationConfig, AuthorizationConfig
from gateway.config.located import did_you_mean
from gateway.errors import ConfigError
from gateway.limits import OperationLimits

__all__ = [
    "DEFAULT_CORS_HEADERS",
    "DEFAULT_CORS_ORIGINS",
    "EMPTY_MAPPING",
    "LOG_LEVELS",
    "MEGABYTE",
    "SUBSCRIPTION_PROTOCOLS",
    "WEBSOCKET_SUBPROTOCOLS",
    "Config",
    "CorsConfig",
    "FeatureFlag",
    "GatewayConfig",
    "HeaderOp",
    "HeaderRule",
    "IntrospectionConfig",
    "LimitsConfig",
    "MetricsConfig",
    "PersistedOperationsConfig",
    "SubgraphConfig",
    "SubgraphErrorPropagation",
    "SubscriptionConfig",
    "SubscriptionProtocol",
    "TelemetryConfig",
    "TracingConfig",
]

SubscriptionProtocol = Literal["sse", "sse_post", "ws"]
HeaderOp = Literal["propagate", "set"]

SUBSCRIPTION_PROTOCOLS: tuple[str, ...] = ("sse", "sse_post", "ws")
WEBSOCKET_SUBPROTOCOLS: tuple[str, ...] = ("graphql-ws", "graphql-transport-ws", "auto")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
MEGABYTE = 1024 * 1024

EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})

DEFAULT_CORS_ORIGINS: tuple[str, ...] = (
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
)
"""A UI dev server on this machine, on any port; nothing else."""
DEFAULT_CORS_HEADERS: tuple[str, ...] = (
    "Accept",
    "Authorization",
    "Content-Type",
    "Apollo-Require-Preflight",
    "X-Apollo-Operation-Name",
    "X-Requested-With",
    "Last-Event-ID",
)


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
    claim: str | None = None
    """A ``set`` rule's value from the request's verified token: a dotted claim
    path (``sub``), from ``expression: request.auth.claims.sub``."""


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
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)


@dataclass(frozen=True, slots=True)
class SubgraphConfig:
    """One subgraph: remote (``routing_url``) or in-process (``module``).

    ``sdl`` is the text of ``schema.file`` (or rover's inline ``schema.sdl``), already
    checked to parse; ``line`` is where the entry starts in supergraph.yaml.
    """

    name: str
    routing_url: str | None = None
    module: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING)
    schema_file: Path | None = None
    sdl: str | None = None
    introspection: IntrospectionConfig | None = None
    subscription: SubscriptionConfig | None = None
    timeout: float | None = None
    headers: tuple[HeaderRule, ...] = ()
    line: int | None = None
    max_response_bytes: int | None = None
    """The largest answer read from this subgraph (default:
    ``gateway.limits.subgraph_max_response_bytes``)."""

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
class MetricsConfig:
    """``gateway.telemetry.metrics.prometheus``: where ``/metrics`` is served."""

    enabled: bool = True
    listen_addr: str = "127.0.0.1:8088"
    path: str = "/metrics"
    max_operation_names: int = 100

    @property
    def host(self) -> str:
        return self.listen_addr.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen_addr.rpartition(":")[2])


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """``gateway.telemetry.tracing``: off unless ``exporter`` is set."""

    exporter: str | None = None
    """``otlp_http``: OTLP over HTTP (protobuf) to ``endpoint``."""
    endpoint: str | None = None
    """Default: the exporter's (``$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, else
    http://localhost:4318/v1/traces)."""
    service_name: str = "gateway"


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """``gateway.telemetry``: metrics and traces."""

    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)


@dataclass(frozen=True, slots=True)
class PersistedOperationsConfig:
    """``gateway.persisted_operations`` and ``gateway.automatic_persisted_queries``
    (Cosmo's keys): trusted documents and Apollo's APQ."""

    manifest: Path | None = None
    """A JSON manifest or a directory of trusted documents (hash -> document)."""
    block_non_persisted_operations: bool = False
    """Only the trusted documents run (Cosmo's
    ``security.block_non_persisted_operations``)."""
    apq: bool = True
    """Automatic persisted queries on."""
    apq_cache_bytes: int = 16 * MEGABYTE
    """Bytes of documents APQ keeps (least recently used go first)."""


@dataclass(frozen=True, slots=True)
class CorsConfig:
    """``gateway.cors``: Cosmo's keys. ``allow_origins`` entries may hold ``*``
    wildcards (``http://localhost:*``); ``"*"`` alone allows every origin."""

    enabled: bool = True
    allow_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    allow_methods: tuple[str, ...] = ("HEAD", "GET", "POST")
    allow_headers: tuple[str, ...] = DEFAULT_CORS_HEADERS
    allow_credentials: bool = True
    max_age: int = 300
    """Seconds a browser may cache a preflight answer."""


@dataclass(frozen=True, slots=True)
class SubgraphErrorPropagation:
    """``gateway.subgraph_error_propagation`` (Cosmo's name): what of a subgraph's
    GraphQL errors reaches clients. ``message`` and ``path`` always; of
    ``extensions`` only ``allowed_extension_fields``; an error without a code gets
    ``default_extension_code``. ``gateway.dev_mode`` passes everything."""

    allowed_extension_fields: tuple[str, ...] = ("code", "http", "path", "resetAt")
    """The default: ``code`` and what the bundled subgraphs document (github's
    ``http.status`` and ``resetAt``, git's ``path`` as the client sent it)."""
    default_extension_code: str = "DOWNSTREAM_SERVICE_ERROR"
    attach_service_name: bool = True
    """Add ``extensions.serviceName`` (the subgraph's name from supergraph.yaml)."""


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """``gateway.limits``: what one client can make the gateway spend."""

    operation: OperationLimits = field(default_factory=OperationLimits)
    """Tokens, depth, aliases, root fields, total fields and complexity of a document."""
    document_cache_bytes: int = 32 * MEGABYTE
    """Byte budget of the parsed-document cache (estimated sizes)."""
    plan_cache_bytes: int = 32 * MEGABYTE
    """Byte budget of the query-plan cache (estimated sizes)."""
    subgraph_max_response_bytes: int = 64 * MEGABYTE
    """The largest answer read from a subgraph (per subgraph: ``max_response_bytes``)."""
    body_read_timeout: float = 30.0
    """Seconds a client has to send a request body."""
    keepalive_timeout: float = 15.0
    """Seconds an idle keep-alive connection stays open."""
    block_non_persisted_operations: bool = False
    """Only trusted documents run (the name issue 11's limits use; the same switch
    as ``gateway.persisted_operations.block_non_persisted_operations``)."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``gateway:`` section; ``GatewayConfig()`` is the default gateway."""

    host: str = "127.0.0.1"
    port: int = 4000
    graphql_path: str = "/graphql"
    subgraph_timeout: float = 30.0
    max_request_bytes: int = 5 * MEGABYTE
    heartbeat_interval: float = 30.0
    multipart_heartbeat_interval: float = 5.0
    """Seconds before an idle multipart subscription gets a ``{}`` part (Apollo's
    router sends one every 5 s)."""
    max_streams: int = 10000
    max_streams_per_client: int = 100
    dedup_queries: bool = True
    """Identical queries in flight to one subgraph share one upstream request."""
    dedup_requests: bool = True
    """Identical client queries in flight (same document, operation, variables,
    extensions, and everything the subgraphs would see of the client) share one
    execution and one encoded answer; never mutations or subscriptions."""
    fast_path: bool = True
    """The HTTP/1.1 front (``gateway.http.front``) answers plain GraphQL POSTs
    itself and hands every other request to aiohttp; false: aiohttp answers all."""
    playground: bool = True
    expose_query_plans: bool | None = None
    """Answer ``Apollo-Expose-Query-Plan``/``X-WG-Include-Query-Plan`` with the plan
    in ``extensions.queryPlan``; ``None``: only when ``host`` is loopback."""
    document_cache_size: int = 1024
    plan_cache_size: int = 1024
    headers: tuple[HeaderRule, ...] = ()
    log_level: str = "info"
    access_log: bool = True
    """One log line a request (``gateway.access``); ``false`` turns it off."""
    log_format: str = "text"
    """``text`` or ``json`` (``--log-format``)."""
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    startup_wait: float = 30.0
    """How long start-up retries introspecting a remote subgraph that is not up."""
    watch: bool = False
    """Reload when supergraph.yaml or an SDL file it names changes (SIGHUP always
    reloads)."""
    introspection_poll_interval: float = 0.0
    """Seconds between polls of the introspected remote subgraphs' SDL (0: off)."""
    skip_unsupported: bool = False
    """Leave out subgraphs of kinds the gateway does not serve (``--skip-unsupported``)."""
    persisted: PersistedOperationsConfig = field(
        default_factory=PersistedOperationsConfig
    )

    allowed_hosts: tuple[str, ...] = ()
    """Host names accepted besides the listen address and the loopback names
    (``*.example.test`` matches subdomains; ``"*"`` turns the Host check off)."""
    cors: CorsConfig = field(default_factory=CorsConfig)
    csrf_prevention: bool = True
    """Refuse GETs and simple POSTs that carry no header a browser would
    preflight (Apollo Server's rule)."""
    dev_mode: bool = False
    """Show internal error details to clients (one's own machine only)."""
    subgraph_error_propagation: SubgraphErrorPropagation = field(
        default_factory=SubgraphErrorPropagation
    )
    roots: tuple[Path, ...] = ()
    """Directories the file-system subgraphs (git, claude) may use, given to every
    in-process subgraph that declares it takes them (``gateway.local.settings``),
    unless its own ``options.roots`` says otherwise. Empty: each subgraph's default,
    the current directory."""
    authentication: AuthenticationConfig = field(default_factory=AuthenticationConfig)
    authorization: AuthorizationConfig = field(default_factory=AuthorizationConfig)

    @property
    def query_plans_exposed(self) -> bool:
        """``expose_query_plans``, defaulting to on for a loopback listener."""
        if self.expose_query_plans is not None:
            return self.expose_query_plans
        return self.host in ("localhost", "::1") or self.host.startswith("127.")

    limits: LimitsConfig = field(default_factory=LimitsConfig)


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    """A Cosmo feature flag: its graph is the base subgraphs with some replaced by
    feature subgraphs (``replaces[feature subgraph name] = base subgraph name``)."""

    name: str
    subgraphs: tuple[SubgraphConfig, ...]
    replaces: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """A whole supergraph.yaml."""

    path: Path | None
    subgraphs: tuple[SubgraphConfig, ...]
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    version: str | None = None
    federation_version: str | None = None
    feature_flags: tuple[FeatureFlag, ...] = ()
    skipped: tuple[str, ...] = ()
    """Entries left out by ``skip_unsupported`` (why, one line each)."""

    def for_flag(self, name: str) -> Config:
        """The configuration of feature flag ``name``'s graph: the base subgraphs,
        those it replaces swapped for its feature subgraphs."""
        flag = next(f for f in self.feature_flags if f.name == name)
        by_base = {flag.replaces[sub.name]: sub for sub in flag.subgraphs}
        subgraphs = tuple(by_base.get(s.name, s) for s in self.subgraphs)
        return dataclasses.replace(self, subgraphs=subgraphs, feature_flags=())

    def with_overrides(self, **gateway_fields: Any) -> Config:
        """A copy with some ``gateway`` settings replaced (command-line flags)."""
        known = {f.name for f in dataclasses.fields(GatewayConfig)}
        for name in gateway_fields:
            if name not in known:
                raise ConfigError(
                    f"unknown gateway setting {name!r}{did_you_mean(name, known)}",
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
