"""supergraph.yaml loading: every accepted form, and one clear line for every mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.config import (
    GatewayConfig,
    HeaderRule,
    IntrospectionConfig,
    SubgraphConfig,
    SubscriptionConfig,
    load_config,
)
from gateway.errors import ConfigError
from tests.helpers.config import load, write

SDL = "type Query { hello: String }\n"


def error(
    tmp_path: Path,
    yaml_text: str,
    environ: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> ConfigError:
    path = write(tmp_path, yaml_text, files)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, message
    assert info.value.code == "CONFIG_ERROR"
    return info.value


def assert_points_at(
    exc: ConfigError, file: Path, line: int, key_path: str, *words: str
) -> None:
    message = str(exc)
    assert exc.file == str(file), message
    assert exc.line == line, message
    assert exc.key_path == key_path, message
    assert message.startswith(f"{file}:{line}"), message
    assert f": {key_path}: " in message, message
    for word in words:
        assert word in message, message


# --- accepted forms -------------------------------------------------------------------


def test_cosmo_list_form_with_every_subgraph_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        version: 1
        subgraphs:
          - name: products
            routing_url: http://localhost:4001/graphql
            schema:
              file: ./schemas/products.graphql
            subscription:
              url: http://localhost:4001/graphql/stream
              protocol: sse_post
              websocketSubprotocol: graphql-ws
            timeout: 500ms
          - name: reviews
            routing_url: https://reviews.example.com/graphql
            introspection:
              url: https://reviews.example.com/graphql
              headers: {Authorization: "Bearer x"}
        """,
        files={"schemas/products.graphql": SDL},
    )
    assert config.version == "1"
    assert config.path == (tmp_path / "supergraph.yaml").resolve()
    products, reviews = config.subgraphs
    assert products == SubgraphConfig(
        name="products",
        routing_url="http://localhost:4001/graphql",
        schema_file=tmp_path.resolve() / "schemas/products.graphql",
        sdl=SDL,
        subscription=SubscriptionConfig(
            url="http://localhost:4001/graphql/stream",
            protocol="sse_post",
            websocket_subprotocol="graphql-ws",
        ),
        timeout=0.5,
        line=3,
    )
    assert products.subscription_url == "http://localhost:4001/graphql/stream"
    assert not products.is_local
    assert reviews.introspection == IntrospectionConfig(
        url="https://reviews.example.com/graphql",
        headers={"Authorization": "Bearer x"},
    )
    assert reviews.sdl is None and reviews.subscription is None
    assert reviews.subscription_url == "https://reviews.example.com/graphql"
    assert config.gateway == GatewayConfig()


def test_rover_map_form_with_file_and_subgraph_url(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        federation_version: =2.3.2
        subgraphs:
          products:
            routing_url: http://localhost:4001
            schema: { file: products.graphql }
          inventory:
            routing_url: http://localhost:4002
            schema:
              subgraph_url: http://localhost:4002/introspect
              introspection_headers: { X-Key: secret }
          inline:
            routing_url: http://localhost:4003
            schema:
              sdl: "type Query { x: Int }"
        """,
        files={"products.graphql": SDL},
    )
    assert config.federation_version == "=2.3.2" and config.version is None
    assert [s.name for s in config.subgraphs] == ["products", "inventory", "inline"]
    assert config.subgraphs[0].sdl == SDL
    assert config.subgraphs[1].introspection == IntrospectionConfig(
        url="http://localhost:4002/introspect", headers={"X-Key": "secret"}
    )
    assert config.subgraphs[2].sdl == "type Query { x: Int }"
    assert config.subgraphs[0].line == 3


def test_federation_version_may_be_a_bare_major(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        federation_version: 2
        subgraphs:
          a: { routing_url: "http://a:1/graphql" }
        """,
    )
    assert config.federation_version == "2"


def test_in_process_module_with_options_needs_no_schema(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: claude
            module: subgraphs.claude:create_subgraph
            options:
              database: ${DATA:-/tmp}/claude.db
              workers: 4
              flags: [a, true]
        """,
    )
    (claude,) = config.subgraphs
    assert claude.is_local and claude.routing_url is None
    assert claude.module == "subgraphs.claude:create_subgraph"
    assert dict(claude.options) == {
        "database": "/tmp/claude.db",
        "workers": 4,
        "flags": ["a", True],
    }
    assert claude.sdl is None and claude.subscription_url is None


def test_switching_module_to_routing_url_is_one_line(tmp_path: Path) -> None:
    local = load(
        tmp_path,
        """
        subgraphs:
          - name: claude
            module: subgraphs.claude
            subscription: { url: "http://localhost:4001/graphql/stream" }
        """,
    )
    remote = load(
        tmp_path,
        """
        subgraphs:
          - name: claude
            routing_url: http://localhost:4001/graphql
            subscription: { url: "http://localhost:4001/graphql/stream" }
        """,
    )
    assert local.subgraphs[0].is_local and not remote.subgraphs[0].is_local
    assert (
        remote.subgraphs[0].subscription_url == "http://localhost:4001/graphql/stream"
    )


def test_subscription_protocol_defaults_to_sse_and_accepts_ws(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://a:1/graphql
            subscription: { url: "http://a:1/stream" }
          - name: b
            routing_url: http://b:1/graphql
            subscription:
              url: ws://b:1/graphql
              protocol: ws
              websocket_subprotocol: auto
        """,
    )
    a, b = config.subgraphs
    assert a.subscription == SubscriptionConfig(url="http://a:1/stream")
    assert b.subscription == SubscriptionConfig(
        url="ws://b:1/graphql", protocol="ws", websocket_subprotocol="auto"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("2.5", 2.5), ('"30s"', 30.0), ("500ms", 0.5), ("1m30s", 90.0)],
)
def test_timeouts_are_seconds_or_duration_strings(
    tmp_path: Path, text: str, seconds: float
) -> None:
    config = load(
        tmp_path,
        f"""
        subgraphs:
          - name: a
            routing_url: http://a:1/graphql
            timeout: {text}
        gateway:
          subgraph_timeout: {text}
        """,
    )
    assert config.subgraphs[0].timeout == seconds
    assert config.gateway.subgraph_timeout == seconds


def test_gateway_section_sets_every_field(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: github
            routing_url: http://localhost:4003/graphql
          - name: git
            routing_url: http://localhost:4004/graphql
        gateway:
          host: 0.0.0.0
          port: 8080
          graphql_path: /api/graphql
          subgraph_timeout: 10s
          max_request_bytes: 5MB
          heartbeat_interval: 15
          max_streams: 50
          max_streams_per_client: 5
          dedup_queries: false
          playground: no
          document_cache_size: 10
          plan_cache_size: 0
          log_level: DEBUG
          headers:
            all:
              request:
                - op: propagate
                  named: X-Request-Id
                  rename: X-Req
                  default: none
                - op: propagate
                  matching: "(?i)^x-custom-.*"
                - op: set
                  name: X-Gateway
                  value: gateway
            subgraphs:
              github:
                request:
                  - op: propagate
                    named: Authorization
        """,
    )
    gateway = config.gateway
    assert (gateway.host, gateway.port, gateway.graphql_path) == (
        "0.0.0.0",
        8080,
        "/api/graphql",
    )
    assert gateway.subgraph_timeout == 10.0 and gateway.heartbeat_interval == 15.0
    assert gateway.max_request_bytes == 5 * 1024 * 1024
    assert (gateway.max_streams, gateway.max_streams_per_client) == (50, 5)
    assert gateway.dedup_queries is False and gateway.playground is False
    assert (gateway.document_cache_size, gateway.plan_cache_size) == (10, 0)
    assert gateway.log_level == "debug"
    first, second, third = gateway.headers
    assert first == HeaderRule(
        op="propagate", named="X-Request-Id", rename="X-Req", default="none"
    )
    assert second.matching is not None and second.matching.search("X-CUSTOM-a")
    assert third == HeaderRule(op="set", name="X-Gateway", value="gateway")
    github, git = config.subgraphs
    assert github.headers == (HeaderRule(op="propagate", named="Authorization"),)
    assert git.headers == ()


def test_defaults_when_gateway_section_is_absent() -> None:
    gateway = GatewayConfig()
    assert gateway.host == "127.0.0.1" and gateway.port == 4000
    assert gateway.graphql_path == "/graphql"
    assert gateway.subgraph_timeout == 30.0 and gateway.heartbeat_interval == 30.0
    assert gateway.max_request_bytes == 5 * 1024 * 1024
    assert gateway.max_streams == 10000 and gateway.max_streams_per_client == 100
    assert gateway.dedup_queries and gateway.playground
    assert gateway.document_cache_size == 1024 == gateway.plan_cache_size
    assert gateway.headers == () and gateway.log_level == "info"


def test_env_expansion_defaults_escapes_and_int_conversion(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://${HOST}:${PORT:-4001}/graphql
            introspection:
              url: http://${HOST}/graphql
              headers: {Authorization: "Bearer ${TOKEN:-}"}
        gateway:
          port: ${GATEWAY_PORT:-4000}
          host: ${EMPTY:-127.0.0.2}
          playground: ${PLAYGROUND}
          headers:
            all:
              request:
                - op: set
                  name: X-Literal
                  value: $${NOT_EXPANDED} and $$ and $
        """,
        environ={
            "HOST": "svc",
            "GATEWAY_PORT": "5000",
            "EMPTY": "",
            "PLAYGROUND": "false",
        },
    )
    assert config.subgraphs[0].routing_url == "http://svc:4001/graphql"
    assert config.subgraphs[0].introspection is not None
    assert dict(config.subgraphs[0].introspection.headers) == {
        "Authorization": "Bearer "
    }
    assert config.gateway.port == 5000
    assert config.gateway.host == "127.0.0.2"
    assert config.gateway.playground is False
    assert config.gateway.headers[0].value == "${NOT_EXPANDED} and $$ and $"


def test_env_is_not_expanded_in_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: a
            module: pkg.mod
            options: {"${KEY}": "${VALUE}"}
        """,
        environ={"KEY": "k", "VALUE": "v"},
    )
    assert dict(config.subgraphs[0].options) == {"${KEY}": "v"}


def test_environ_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TEST_PORT", "4321")
    path = write(
        tmp_path,
        """
        subgraphs:
          - {name: a, routing_url: "http://a:1/graphql"}
        gateway: {port: "${GATEWAY_TEST_PORT}"}
        """,
    )
    assert load_config(path).gateway.port == 4321


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - &base {name: a, routing_url: "http://a:1/graphql", timeout: 5s}
          - <<: *base
            name: b
        """,
    )
    assert [(s.name, s.timeout) for s in config.subgraphs] == [("a", 5.0), ("b", 5.0)]


def test_with_overrides_replaces_gateway_fields_only(tmp_path: Path) -> None:
    config = load(tmp_path, "subgraphs: {a: {routing_url: 'http://a:1/graphql'}}")
    changed = config.with_overrides(port=9000, host="0.0.0.0", log_level="WARNING")
    assert (changed.gateway.port, changed.gateway.host) == (9000, "0.0.0.0")
    assert changed.gateway.log_level == "warning"
    assert changed.subgraphs == config.subgraphs and config.gateway.port == 4000
    with pytest.raises(ConfigError, match="did you mean 'port'"):
        config.with_overrides(prot=1)
    with pytest.raises(ConfigError, match=r"gateway\.port"):
        config.with_overrides(port=70000)


def test_config_values_are_frozen(tmp_path: Path) -> None:
    config = load(tmp_path, "subgraphs: {a: {routing_url: 'http://a:1/graphql'}}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.gateway.port = 1  # type: ignore[misc]
    assert not hasattr(config.gateway, "__dict__")


# --- errors: one line naming file, line and key path ----------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: file not found"


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "subgraphs:\n  - name: a\n   routing_url: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path) and info.value.line is not None
    assert str(info.value).startswith(f"{path}:{info.value.line}:")
    assert "invalid YAML" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    exc = error(tmp_path, text)
    assert exc.file == str(tmp_path / "supergraph.yaml")
    assert "mapping" in str(exc)


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_ulr: http://a:1/graphql
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        3,
        "subgraphs.a.routing_ulr",
        "unknown key",
        "did you mean 'routing_url'?",
    )


@pytest.mark.parametrize(
    ("text", "line", "key_path"),
    [
        ("subgraph:\n  a: {}\n", 1, "subgraph"),
        (
            "subgraphs: {a: {routing_url: 'http://a/', schema: {fiel: x}}}\n",
            1,
            "subgraphs.a.schema.fiel",
        ),
        (
            "subgraphs: {a: {routing_url: 'http://a/'}}\ngateway:\n  prot: 1\n",
            3,
            "gateway.prot",
        ),
        (
            "subgraphs: {a: {routing_url: 'http://a/'}}\ngateway:\n  headers:\n"
            "    all:\n      request:\n        - op: set\n          name: X\n"
            "          value: y\n          named: z\n",
            9,
            "gateway.headers.all.request[0].named",
        ),
    ],
)
def test_unknown_keys_anywhere_are_errors(
    tmp_path: Path, text: str, line: int, key_path: str
) -> None:
    exc = error(tmp_path, text)
    assert_points_at(exc, tmp_path / "supergraph.yaml", line, key_path, "unknown key")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ('port: "abc"', ("expected an integer", "'abc'")),
        ("port: 70000", ("not a TCP port",)),
        ("port: [1]", ("expected an integer", "a list")),
        ("max_streams: 0", ("at least 1",)),
        ("dedup_queries: maybe", ("true or false",)),
        ("subgraph_timeout: soon", ("duration",)),
        ("heartbeat_interval: 0s", ("greater than zero",)),
        ("max_request_bytes: lots", ("size",)),
        ("graphql_path: graphql", ("URL path",)),
        ("log_level: loud", ("unknown log level",)),
        ("host: {a: 1}", ("expected a string", "a mapping")),
    ],
)
def test_wrong_types_in_gateway_section(
    tmp_path: Path, setting: str, words: tuple[str, ...]
) -> None:
    exc = error(
        tmp_path,
        f"subgraphs: {{a: {{routing_url: 'http://a:1/'}}}}\ngateway:\n  {setting}\n",
    )
    key = setting.split(":")[0]
    assert_points_at(exc, tmp_path / "supergraph.yaml", 3, f"gateway.{key}", *words)


def test_missing_sdl_file_names_the_key(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: products
            routing_url: http://a:1/graphql
            schema:
              file: missing.graphql
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        5,
        "subgraphs.products.schema.file",
        "SDL file not found",
        "missing.graphql",
    )


def test_sdl_syntax_error_points_into_the_sdl_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        subgraphs:
          - name: products
            routing_url: http://a:1/graphql
            schema:
              file: products.graphql
        """,
        files={
            "products.graphql": "type Query {\n  hello: String\n  broken(: Int\n}\n"
        },
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    exc = info.value
    sdl = tmp_path / "products.graphql"
    assert (exc.file, exc.line, exc.column) == (str(sdl), 3, 10)
    assert exc.key_path == "subgraphs.products.schema.file"
    message = str(exc)
    assert message.startswith(f"{sdl}:3:10: subgraphs.products.schema.file: ")
    assert "Syntax Error" in message and f"{path}:5" in message
    assert "\n" not in message


def test_inline_sdl_syntax_error_points_at_the_yaml(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          a:
            routing_url: http://a:1/graphql
            schema: {sdl: "type Query {"}
        """,
    )
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 4, "subgraphs.a.schema.sdl", "invalid SDL"
    )


@pytest.mark.parametrize(
    ("entry", "key_path"),
    [
        ("routing_url: localhost:4001/graphql", "subgraphs.a.routing_url"),
        ("routing_url: ftp://a/graphql", "subgraphs.a.routing_url"),
        ("routing_url: http:///graphql", "subgraphs.a.routing_url"),
        ("routing_url: http://a:99999999/graphql", "subgraphs.a.routing_url"),
        (
            "routing_url: http://a/\n    subscription: {url: 'ws://a/'}",
            "subgraphs.a.subscription.url",
        ),
        (
            "routing_url: http://a/\n    introspection: {url: 'not a url'}",
            "subgraphs.a.introspection.url",
        ),
    ],
)
def test_bad_urls_are_refused(tmp_path: Path, entry: str, key_path: str) -> None:
    exc = error(tmp_path, f"subgraphs:\n  - name: a\n    {entry}\n")
    line = 3 if key_path.endswith("routing_url") else 4
    assert_points_at(exc, tmp_path / "supergraph.yaml", line, key_path, "invalid URL")


def test_duplicate_subgraph_names_name_both_lines(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://a:1/graphql
          - name: a
            routing_url: http://a:2/graphql
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        4,
        "subgraphs.a",
        "duplicate subgraph",
        "first at line 2",
    )


def test_duplicate_keys_in_map_form_name_both_lines(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          a: {routing_url: "http://a:1/graphql"}
          a: {routing_url: "http://a:2/graphql"}
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        3,
        "subgraphs.a",
        "duplicate key",
        "first at line 2",
    )


def test_neither_routing_url_nor_module_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, "subgraphs:\n  - name: a\n    timeout: 1s\n")
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 2, "subgraphs.a", "routing_url", "module"
    )


def test_both_routing_url_and_module_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        "subgraphs:\n  - name: a\n    routing_url: http://a/\n    module: pkg.mod\n",
    )
    assert_points_at(exc, tmp_path / "supergraph.yaml", 4, "subgraphs.a", "not both")


def test_options_without_module_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        "subgraphs:\n  - name: a\n    routing_url: http://a/\n    options: {x: 1}\n",
    )
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 4, "subgraphs.a.options", "in-process"
    )


def test_malformed_module_target_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, "subgraphs:\n  - name: a\n    module: 'pkg/mod.py'\n")
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 3, "subgraphs.a.module", "package.module"
    )


def test_unknown_subscription_protocol_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://a:1/graphql
            subscription:
              protocol: sse_get
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        5,
        "subgraphs.a.subscription.protocol",
        "unknown subscription protocol",
        "sse_post",
        "ws",
    )


def test_unknown_websocket_subprotocol_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        "subgraphs:\n  - name: a\n    routing_url: http://a/\n"
        "    subscription: {protocol: ws, websocketSubprotocol: graphql-wss}\n",
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        4,
        "subgraphs.a.subscription.websocketSubprotocol",
        "did you mean 'graphql-ws'",
    )


@pytest.mark.parametrize("value", ["[]", "{}", ""])
def test_empty_subgraphs_is_an_error(tmp_path: Path, value: str) -> None:
    exc = error(tmp_path, f"version: 1\nsubgraphs: {value}\n")
    assert_points_at(exc, tmp_path / "supergraph.yaml", 2, "subgraphs", "empty")


def test_missing_subgraphs_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, "version: 1\n")
    assert exc.key_path == "subgraphs" and "missing" in str(exc)


def test_graphref_schema_says_graphos_is_not_supported(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          products:
            routing_url: http://a:1/graphql
            schema:
              graphref: mygraph@current
              subgraph: products
        """,
    )
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 5, "subgraphs.products.schema", "GraphOS"
    )


def test_unset_env_var_names_variable_and_line(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        "subgraphs:\n  - name: a\n    routing_url: http://${SUBGRAPH_HOST}/graphql\n",
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        3,
        "subgraphs.a.routing_url",
        "SUBGRAPH_HOST is not set",
    )


def test_malformed_env_reference_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, "subgraphs: {a: {routing_url: 'http://${1x}/'}}\n")
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 1, "subgraphs.a.routing_url", "malformed"
    )


def test_env_value_that_is_not_an_int_is_a_type_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        "subgraphs: {a: {routing_url: 'http://a/'}}\ngateway:\n  port: ${P}\n",
        environ={"P": "eighty"},
    )
    assert_points_at(exc, tmp_path / "supergraph.yaml", 3, "gateway.port", "'eighty'")


def test_bad_header_regex_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs: {a: {routing_url: "http://a/"}}
        gateway:
          headers:
            all:
              request:
                - op: propagate
                  matching: "x-(unclosed"
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        7,
        "gateway.headers.all.request[0].matching",
        "invalid regex",
    )


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("{op: copy, named: X}", ("unknown header op",)),
        ("{op: propagate}", ("exactly one of named",)),
        ("{op: propagate, named: X, matching: Y}", ("exactly one of named",)),
        ("{op: set, name: X}", ("needs name and value",)),
        ("{op: propagate, named: 'bad header'}", ("not a valid HTTP header",)),
        ("{named: X}", ("missing",)),
    ],
)
def test_bad_header_rules_are_errors(
    tmp_path: Path, rule: str, words: tuple[str, ...]
) -> None:
    exc = error(
        tmp_path,
        "subgraphs: {a: {routing_url: 'http://a/'}}\ngateway:\n  headers:\n"
        f"    all:\n      request:\n        - {rule}\n",
    )
    assert exc.line == 6 and exc.key_path is not None
    assert exc.key_path.startswith("gateway.headers.all.request[0]")
    for word in words:
        assert word in str(exc), str(exc)


def test_header_rules_for_an_unknown_subgraph_are_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs: {github: {routing_url: "http://a/"}}
        gateway:
          headers:
            subgraphs:
              githbu:
                request: [{op: set, name: X, value: y}]
        """,
    )
    assert_points_at(
        exc,
        tmp_path / "supergraph.yaml",
        5,
        "gateway.headers.subgraphs.githbu",
        "did you mean 'github'",
    )


def test_subgraph_entry_must_be_a_mapping(tmp_path: Path) -> None:
    exc = error(tmp_path, "subgraphs:\n  - products\n")
    assert_points_at(
        exc, tmp_path / "supergraph.yaml", 2, "subgraphs[0]", "expected a subgraph"
    )


def test_subgraph_entry_without_name_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, "subgraphs:\n  - routing_url: http://a/\n")
    assert_points_at(exc, tmp_path / "supergraph.yaml", 2, "subgraphs[0].name", "name")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2048", 2048),
        ('"512KB"', 512 * 1024),
        ("5 MB", 5 * 1024 * 1024),
        ("1GiB", 1 << 30),
    ],
)
def test_max_request_bytes_accepts_bytes_and_units(
    tmp_path: Path, text: str, size: int
) -> None:
    config = load(
        tmp_path,
        f"subgraphs: {{a: {{routing_url: 'http://a/'}}}}\n"
        f"gateway: {{max_request_bytes: {text}}}\n",
    )
    assert config.gateway.max_request_bytes == size


def test_a_directory_instead_of_a_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, expected a YAML file"


def test_text_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "supergraph.yaml"
    path.write_bytes(b"version: 1\nsubgraphs:\n  a: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:3: not valid UTF-8 text"


def test_recursive_merge_keys_are_an_error_not_a_crash(tmp_path: Path) -> None:
    exc = error(
        tmp_path, "subgraphs:\n  x: &a\n    routing_url: 'http://a/'\n    <<: *a\n"
    )
    assert exc.key_path == "subgraphs.x" and "recursive" in str(exc)


# --- gateway.limits ---------------------------------------------------------------------


def test_limits_accept_integers_and_cosmos_enabled_limit_form(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://localhost:4001/graphql
            max_response_bytes: 1MB
            schema: {sdl: "type Query { a: Int }"}
        gateway:
          limits:
            max_tokens: 5000
            depth: {enabled: true, limit: 12}
            aliases: {enabled: false}
            root_fields: 10
            total_fields: 300
            complexity: 1000
            default_list_size: 20
            document_cache_bytes: 8MB
            plan_cache_bytes: 4MB
            subgraph_max_response_bytes: 16MB
            body_read_timeout: 5s
            keepalive_timeout: 2s
        """,
    )
    limits = config.gateway.limits
    assert limits.operation.max_tokens == 5000
    assert limits.operation.depth == 12
    assert limits.operation.aliases is None
    assert limits.operation.root_fields == 10
    assert limits.operation.total_fields == 300
    assert limits.operation.complexity == 1000
    assert limits.operation.default_list_size == 20
    assert limits.document_cache_bytes == 8 * 1024 * 1024
    assert limits.plan_cache_bytes == 4 * 1024 * 1024
    assert limits.subgraph_max_response_bytes == 16 * 1024 * 1024
    assert (limits.body_read_timeout, limits.keepalive_timeout) == (5.0, 2.0)
    assert config.subgraphs[0].max_response_bytes == 1024 * 1024


def test_limits_have_safe_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://localhost:4001/graphql
            schema: {sdl: "type Query { a: Int }"}
        """,
    )
    limits = config.gateway.limits
    assert limits.operation.max_tokens == 15_000
    assert limits.operation.depth == 32
    assert limits.subgraph_max_response_bytes == 64 * 1024 * 1024
    assert limits.body_read_timeout == 30.0
    assert config.subgraphs[0].max_response_bytes is None


def test_an_unknown_limit_is_an_error_naming_it(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://localhost:4001/graphql
            schema: {sdl: "type Query { a: Int }"}
        gateway:
          limits:
            detph: 10
        """,
    )
    assert exc.key_path == "gateway.limits.detph"
    assert "depth" in str(exc)  # did you mean


def test_an_enabled_limit_without_a_value_is_an_error(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        """
        subgraphs:
          - name: a
            routing_url: http://localhost:4001/graphql
            schema: {sdl: "type Query { a: Int }"}
        gateway:
          limits:
            depth: {enabled: true}
        """,
    )
    assert exc.key_path == "gateway.limits.depth.limit"
