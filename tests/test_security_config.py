"""The security keys of supergraph.yaml's ``gateway:`` section, and their mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.model import (
    DEFAULT_CORS_ORIGINS,
    CorsConfig,
    GatewayConfig,
    SubgraphErrorPropagation,
)
from gateway.errors import ConfigError
from tests.helpers.config import load

HEAD = """
version: 1
subgraphs:
  - name: a
    routing_url: http://127.0.0.1:1/graphql
    schema: {sdl: "type Query { a: Int }"}
gateway:
"""


def test_the_defaults_are_local_only() -> None:
    gateway = GatewayConfig()
    assert gateway.allowed_hosts == ()
    assert gateway.cors == CorsConfig()
    assert gateway.cors.allow_origins == DEFAULT_CORS_ORIGINS
    assert gateway.csrf_prevention is True
    assert gateway.dev_mode is False
    assert gateway.subgraph_error_propagation.allowed_extension_fields == (
        "code",
        "http",
        "path",
        "resetAt",
    )
    assert gateway.roots == ()


def test_every_security_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "projects").mkdir()
    config = load(
        tmp_path,
        HEAD
        + """
  allowed_hosts: [Dev.Example.Test, "*.corp.test"]
  cors:
    allow_origins: ["http://localhost:*", "https://ui.example.test/"]
    allow_methods: [get, POST]
    allow_headers: [Content-Type, X-Tenant]
    allow_credentials: false
    max_age: 10m
  csrf_prevention: false
  dev_mode: true
  subgraph_error_propagation:
    allowed_extension_fields: [retryable]
    default_extension_code: SUBGRAPH_ERROR
    attach_service_name: false
  roots: [projects, "${HOME_DIR}"]
""",
        environ={"HOME_DIR": str(tmp_path)},
    )
    gateway = config.gateway
    assert gateway.allowed_hosts == ("dev.example.test", "*.corp.test")
    assert gateway.cors == CorsConfig(
        allow_origins=("http://localhost:*", "https://ui.example.test"),
        allow_methods=("GET", "POST"),
        allow_headers=("Content-Type", "X-Tenant"),
        allow_credentials=False,
        max_age=600,
    )
    assert gateway.csrf_prevention is False
    assert gateway.dev_mode is True
    assert gateway.subgraph_error_propagation == SubgraphErrorPropagation(
        allowed_extension_fields=("code", "retryable"),
        default_extension_code="SUBGRAPH_ERROR",
        attach_service_name=False,
    )
    assert gateway.roots == ((tmp_path / "projects").resolve(), tmp_path.resolve())


def test_a_single_root_may_be_a_string(tmp_path: Path) -> None:
    config = load(tmp_path, HEAD + "  roots: .\n")
    assert config.gateway.roots == (tmp_path.resolve(),)


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("  allowed_hosts: [http://evil.example]\n", "gateway.allowed_hosts"),
        ("  allowed_hosts: [host:4000]\n", "no scheme, port or path"),
        ("  cors: {allow_origins: [localhost:3000]}\n", "scheme://host[:port]"),
        ('  cors: {allow_methods: ["GET POST"]}\n', "not an HTTP method"),
        ('  cors: {allow_headers: ["bad header"]}\n', "not a valid HTTP header"),
        ("  cors: {max_age: soon}\n", "gateway.cors.max_age"),
        ("  cors: {allow_origin: [x]}\n", "did you mean"),
        (
            "  subgraph_error_propagation: {allowed_extension_fields: [stacktrace]}\n",
            "dev_mode",
        ),
        ("  roots: [does-not-exist]\n", "is not a directory"),
        ("  roots: []\n", "name at least one directory"),
        ("  dev_mode: maybe\n", "true or false"),
    ],
)
def test_a_bad_security_key_is_one_clear_line(
    tmp_path: Path, yaml: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, HEAD + yaml)
    message = str(caught.value)
    assert expected in message
    assert "supergraph.yaml:" in message and "\n" not in message
