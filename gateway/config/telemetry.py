"""``gateway.telemetry`` of supergraph.yaml: the Prometheus listener (Cosmo's shape).

    gateway:
      telemetry:
        metrics:
          prometheus:
            enabled: true                # default true
            listen_addr: 127.0.0.1:8088  # Cosmo's default; the main address serves
                                         # /metrics on the GraphQL port
            path: /metrics
        tracing:
          exporter: otlp_http                        # off when absent
          endpoint: http://127.0.0.1:4318/v1/traces  # the exporter's default else
          service_name: gateway
            max_operation_names: 100     # more names count as __overflow__

See https://cosmo-docs.wundergraph.com/router/metrics-and-monitoring/prometheus-metric-reference
"""

from __future__ import annotations

from yaml.nodes import Node

from gateway.config.located import LocatedReader
from gateway.config.model import MetricsConfig, TelemetryConfig, TracingConfig

__all__ = ["read_telemetry"]

_TELEMETRY_KEYS = ("metrics", "tracing")
_TRACING_KEYS = ("exporter", "endpoint", "service_name")
TRACING_EXPORTERS = ("otlp_http",)
_METRICS_KEYS = ("prometheus",)
_PROMETHEUS_KEYS = ("enabled", "listen_addr", "path", "max_operation_names")


def read_telemetry(reader: LocatedReader, node: Node, path: str) -> TelemetryConfig:
    fields = reader.optional_mapping(node, path, _TELEMETRY_KEYS)
    metrics = MetricsConfig()
    if "metrics" in fields:
        metrics_path = f"{path}.metrics"
        inner = reader.optional_mapping(
            fields["metrics"][1], metrics_path, _METRICS_KEYS
        )
        if "prometheus" in inner:
            metrics = _prometheus(
                reader, inner["prometheus"][1], f"{metrics_path}.prometheus"
            )
    tracing = TracingConfig()
    if "tracing" in fields:
        tracing = _tracing(reader, fields["tracing"][1], f"{path}.tracing")
    return TelemetryConfig(metrics=metrics, tracing=tracing)


def _tracing(reader: LocatedReader, node: Node, path: str) -> TracingConfig:
    fields = reader.optional_mapping(node, path, _TRACING_KEYS)
    exporter = endpoint = None
    if "exporter" in fields:
        exporter = reader.choice(
            fields["exporter"][1], f"{path}.exporter", TRACING_EXPORTERS, "exporter"
        )
    if "endpoint" in fields:
        endpoint = reader.url(fields["endpoint"][1], f"{path}.endpoint")
    service = "gateway"
    if "service_name" in fields:
        service = reader.string(fields["service_name"][1], f"{path}.service_name")
    return TracingConfig(exporter=exporter, endpoint=endpoint, service_name=service)


def _prometheus(reader: LocatedReader, node: Node, path: str) -> MetricsConfig:
    fields = reader.optional_mapping(node, path, _PROMETHEUS_KEYS)
    settings: dict[str, object] = {}
    if "enabled" in fields:
        settings["enabled"] = reader.boolean(fields["enabled"][1], f"{path}.enabled")
    if "listen_addr" in fields:
        value = fields["listen_addr"][1]
        text = reader.string(value, f"{path}.listen_addr").strip()
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            reader.fail(
                value,
                f"{path}.listen_addr",
                f"expected host:port such as 127.0.0.1:8088, got {text!r}",
            )
        settings["listen_addr"] = text
    if "path" in fields:
        value = fields["path"][1]
        text = reader.string(value, f"{path}.path").strip()
        if not text.startswith("/") or any(c in text for c in "?# "):
            reader.fail(
                value,
                f"{path}.path",
                f"expected a URL path such as /metrics, got {text!r}",
            )
        settings["path"] = text
    if "max_operation_names" in fields:
        settings["max_operation_names"] = reader.integer(
            fields["max_operation_names"][1], f"{path}.max_operation_names", minimum=1
        )
    return MetricsConfig(**settings)  # type: ignore[arg-type]
