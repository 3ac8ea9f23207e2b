"""gateway.authentication / gateway.authorization in supergraph.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.auth import ASYMMETRIC_ALGORITHMS
from gateway.errors import ConfigError
from tests.test_config import error, load

BASE = "subgraphs: {a: {routing_url: 'http://a/', schema: {file: a.graphql}}}\n"
FILES = {"a.graphql": "type Query { a: String }\n", "jwks.json": '{"keys": []}'}


def test_the_whole_jwt_section_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        BASE
        + """
gateway:
  authentication:
    jwt:
      jwks:
        - url: http://127.0.0.1:9/jwks.json
          refresh_interval: 5m
          timeout: 2s
        - file: jwks.json
      algorithms: [RS256, ES256]
      header_name: X-Token
      header_value_prefix: ""
      issuer: https://idp.test/
      audience: [a, b]
      clock_skew: 0
      scope_claim: realm_access.roles
      min_refresh_interval: 1s
  authorization:
    require_authentication: true
    reject_unauthorized: true
    close_expired_streams: false
    requires_scopes:
      "a:Query.a": [["x", "y"], [z]]
      "Query.*": [admin]
  headers:
    all:
      request:
        - {op: set, name: X-User-Id, expression: request.auth.claims.sub}
""",
        files=FILES,
    )
    jwt = config.gateway.authentication.jwt
    assert jwt is not None
    assert jwt.jwks[0].url == "http://127.0.0.1:9/jwks.json"
    assert (jwt.jwks[0].refresh_interval, jwt.jwks[0].timeout) == (300, 2)
    assert jwt.jwks[1].file == (tmp_path / "jwks.json").resolve()
    assert jwt.algorithms == ("RS256", "ES256")
    assert (jwt.header_name, jwt.header_value_prefix) == ("X-Token", "")
    assert jwt.issuer == ("https://idp.test/",) and jwt.audience == ("a", "b")
    assert jwt.clock_skew == 0 and jwt.min_refresh_interval == 1
    assert jwt.scope_claim == "realm_access.roles"
    authorization = config.gateway.authorization
    assert authorization.require_authentication and authorization.reject_unauthorized
    assert not authorization.close_expired_streams
    first, second = authorization.requires_scopes
    assert (first.subgraph, first.type_name, first.field_name) == ("a", "Query", "a")
    assert first.scopes == (frozenset({"x", "y"}), frozenset({"z"}))
    assert (second.subgraph, second.field_name, second.scopes) == (
        None,
        "*",
        (frozenset({"admin"}),),
    )
    assert config.gateway.headers[0].claim == "sub"


def test_defaults_are_cosmos_and_apollos(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        BASE + "gateway: {authentication: {jwt: {jwks: [{file: jwks.json}]}}}\n",
        files=FILES,
    )
    jwt = config.gateway.authentication.jwt
    assert jwt is not None
    assert (jwt.header_name, jwt.header_value_prefix) == ("Authorization", "Bearer")
    assert jwt.algorithms == ASYMMETRIC_ALGORITHMS
    assert jwt.scope_claim == "scope"
    assert not config.gateway.authorization.require_authentication
    assert load(tmp_path, BASE, files=FILES).gateway.authentication.jwt is None


@pytest.mark.parametrize(
    ("section", "key_path", "words"),
    [
        ("{jwt: {}}", "gateway.authentication.jwt.jwks", "missing"),
        ("{jwt: {jwks: []}}", "gateway.authentication.jwt.jwks", "empty"),
        (
            "{jwt: {jwks: [{url: 'http://x/', file: jwks.json}]}}",
            "gateway.authentication.jwt.jwks[0]",
            "exactly one of url or file",
        ),
        (
            "{jwt: {jwks: [{url: 'ftp://x/'}]}}",
            "gateway.authentication.jwt.jwks[0].url",
            "http(s) URL",
        ),
        (
            "{jwt: {jwks: [{file: nope.json}]}}",
            "gateway.authentication.jwt.jwks[0].file",
            "no such file",
        ),
        (
            "{jwt: {jwks: [{file: jwks.json}], algorithms: [none]}}",
            "gateway.authentication.jwt.algorithms",
            "none is never accepted",
        ),
        (
            "{jwt: {jwks: [{file: jwks.json}], scope_claim: 'a b'}}",
            "gateway.authentication.jwt.scope_claim",
            "dotted path",
        ),
        (
            "{jwt: {jwks: [{file: jwks.json}], audiences: x}}",
            "gateway.authentication.jwt.audiences",
            "did you mean 'audience'",
        ),
    ],
)
def test_bad_authentication_settings_name_the_key(
    tmp_path: Path, section: str, key_path: str, words: str
) -> None:
    exc = error(
        tmp_path, BASE + f"gateway: {{authentication: {section}}}\n", files=FILES
    )
    assert exc.key_path == key_path, str(exc)
    assert words in str(exc), str(exc)


def test_a_scope_rule_names_a_field(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        BASE + "gateway: {authorization: {requires_scopes: {'Query': [[a]]}}}\n",
        files=FILES,
    )
    assert exc.key_path == "gateway.authorization.requires_scopes.Query"
    assert "Type.field" in str(exc)


def test_require_authentication_without_jwt_is_an_error(tmp_path: Path) -> None:
    from gateway.http.app import create_app

    config = load(
        tmp_path,
        BASE + "gateway: {authorization: {require_authentication: true}}\n",
        files=FILES,
    )
    with pytest.raises(ConfigError, match=r"gateway\.authentication\.jwt"):
        create_app(config)


def test_a_claim_expression_must_name_a_claim(tmp_path: Path) -> None:
    exc = error(
        tmp_path,
        BASE
        + "gateway: {headers: {all: {request: "
        + "[{op: set, name: X-A, expression: 'request.header.Foo'}]}}}\n",
        files=FILES,
    )
    assert exc.key_path == "gateway.headers.all.request[0].expression"
    assert "request.auth.claims" in str(exc)
