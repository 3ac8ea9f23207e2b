"""The ``gateway.authentication`` and ``gateway.authorization`` sections: model and grammar.

Cosmo's ``authentication.jwt.jwks`` and Apollo Router's
``authentication.router.jwt`` in one shape::

    gateway:
      authentication:
        jwt:
          jwks:
            - url: https://idp.example/.well-known/jwks.json
              refresh_interval: 1m      # background refresh (default 1m)
              timeout: 5s               # per fetch (default 5s)
            - file: keys/jwks.json      # relative to the YAML file
          algorithms: [RS256, ES256]    # default: the asymmetric JWS algorithms
          header_name: Authorization    # default
          header_value_prefix: Bearer   # default; "" for a bare token
          issuer: https://idp.example/  # optional, one or a list
          audience: gateway             # optional, one or a list
          clock_skew: 30s               # leeway for exp/nbf/iat (default 30s)
          scope_claim: scope            # default; a dotted path, string or list
          min_refresh_interval: 10s     # an unknown kid refreshes at most this often
      authorization:
        require_authentication: false   # a request without a token is refused
        reject_unauthorized: false      # fail the operation instead of nulling fields
        close_expired_streams: true     # a stream ends when its token expires
        requires_scopes:                # @requiresScopes added by the gateway
          "claude:Mutation.*": [["claude:run"]]   # [subgraph:]Type.field or Type.*

See https://cosmo-docs.wundergraph.com/router/authentication-and-authorization and
https://www.apollographql.com/docs/graphos/routing/security/jwt
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yaml.nodes import Node, ScalarNode, SequenceNode

if TYPE_CHECKING:
    from gateway.config.located import LocatedReader

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthenticationConfig",
    "AuthorizationConfig",
    "JwksConfig",
    "JwtConfig",
    "ScopeRule",
    "read_authentication",
    "read_authorization",
]

ASYMMETRIC_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
"""The default: keys published in a JWKS are public keys."""
_KNOWN_ALGORITHMS = (*ASYMMETRIC_ALGORITHMS, "HS256", "HS384", "HS512")
_CLAIM_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_:-]*(\.[A-Za-z_][A-Za-z0-9_:-]*)*")


@dataclass(frozen=True, slots=True)
class JwksConfig:
    """One JWKS source: a URL fetched now and then, or a local file."""

    url: str | None = None
    file: Path | None = None
    refresh_interval: float = 60.0
    timeout: float = 5.0

    @property
    def name(self) -> str:
        return self.url or str(self.file)


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """``gateway.authentication.jwt``."""

    jwks: tuple[JwksConfig, ...]
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    header_name: str = "Authorization"
    header_value_prefix: str = "Bearer"
    issuer: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    clock_skew: float = 30.0
    scope_claim: str = "scope"
    min_refresh_interval: float = 10.0


@dataclass(frozen=True, slots=True)
class AuthenticationConfig:
    """``gateway.authentication``: ``jwt`` is ``None`` when tokens are not read."""

    jwt: JwtConfig | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationConfig:
    """``gateway.authorization``."""

    require_authentication: bool = False
    reject_unauthorized: bool = False
    close_expired_streams: bool = True
    requires_scopes: tuple[ScopeRule, ...] = ()
    """``@requiresScopes`` the gateway adds to fields whatever their subgraph's SDL
    says (a subgraph one does not own, or an in-process one such as claude)."""


@dataclass(frozen=True, slots=True)
class ScopeRule:
    """``[subgraph:]Type.field`` (or ``Type.*``) needs one of ``scopes``."""

    subgraph: str | None
    type_name: str
    field_name: str
    """``*``: every field of the type (that ``subgraph`` resolves)."""
    scopes: tuple[frozenset[str], ...]


_AUTHENTICATION_KEYS = ("jwt",)
_JWT_KEYS = (
    "jwks",
    "algorithms",
    "header_name",
    "header_value_prefix",
    "issuer",
    "audience",
    "clock_skew",
    "scope_claim",
    "min_refresh_interval",
)
_JWKS_KEYS = ("url", "file", "refresh_interval", "timeout")
_AUTHORIZATION_KEYS = (
    "require_authentication",
    "reject_unauthorized",
    "close_expired_streams",
    "requires_scopes",
)
_BOOLEAN_KEYS = _AUTHORIZATION_KEYS[:3]
_COORDINATE = re.compile(
    r"(?:([A-Za-z_][A-Za-z0-9_-]*):)?([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*|\*)"
)


def read_authentication(
    reader: LocatedReader, node: Node, path: str
) -> AuthenticationConfig:
    fields = reader.optional_mapping(node, path, _AUTHENTICATION_KEYS)
    if "jwt" not in fields:
        return AuthenticationConfig()
    return AuthenticationConfig(_jwt(reader, fields["jwt"][1], f"{path}.jwt"))


def _strings(reader: LocatedReader, node: Node, path: str) -> list[tuple[Node, str]]:
    if isinstance(node, SequenceNode):
        return [
            (item, reader.string(item, f"{path}[{i}]").strip())
            for i, item in enumerate(node.value)
        ]
    return [(node, reader.string(node, path).strip())]


def _jwt(reader: LocatedReader, node: Node, path: str) -> JwtConfig:
    fields = reader.mapping(node, path, _JWT_KEYS)
    if "jwks" not in fields:
        reader.fail(node, f"{path}.jwks", "missing: name at least one JWKS url or file")
    jwks_node = fields["jwks"][1]
    items = jwks_node.value if isinstance(jwks_node, SequenceNode) else [jwks_node]
    if not items:
        reader.fail(jwks_node, f"{path}.jwks", "is empty: name a JWKS url or file")
    sources = tuple(
        _jwks(reader, item, f"{path}.jwks[{i}]") for i, item in enumerate(items)
    )
    settings: dict[str, object] = {"jwks": sources}
    if "algorithms" in fields:
        key_path = f"{path}.algorithms"
        algorithms = []
        for item, text in _strings(reader, fields["algorithms"][1], key_path):
            if text not in _KNOWN_ALGORITHMS:
                reader.fail(
                    item,
                    key_path,
                    f"unknown or refused algorithm {text!r} (none is never "
                    f"accepted); expected some of: {', '.join(_KNOWN_ALGORITHMS)}",
                )
            algorithms.append(text)
        if not algorithms:
            reader.fail(fields["algorithms"][1], key_path, "is empty")
        settings["algorithms"] = tuple(algorithms)
    if "header_name" in fields:
        settings["header_name"] = reader.header_name(
            fields["header_name"][1], f"{path}.header_name"
        )
    if "header_value_prefix" in fields:
        settings["header_value_prefix"] = reader.string(
            fields["header_value_prefix"][1], f"{path}.header_value_prefix", empty=True
        ).strip()
    for key in ("issuer", "audience"):
        if key in fields:
            settings[key] = tuple(
                text for _, text in _strings(reader, fields[key][1], f"{path}.{key}")
            )
    for key in ("clock_skew", "min_refresh_interval"):
        if key in fields:
            settings[key] = _duration_or_zero(reader, fields[key][1], f"{path}.{key}")
    if "scope_claim" in fields:
        claim_node = fields["scope_claim"][1]
        claim = reader.string(claim_node, f"{path}.scope_claim").strip()
        if not _CLAIM_PATH.fullmatch(claim):
            reader.fail(
                claim_node,
                f"{path}.scope_claim",
                f"expected a claim name or dotted path such as scope or "
                f"realm_access.roles, got {claim!r}",
            )
        settings["scope_claim"] = claim
    return JwtConfig(**settings)  # type: ignore[arg-type]


def _duration_or_zero(reader: LocatedReader, node: Node, path: str) -> float:
    """A duration where ``0`` (off) is allowed too."""
    if isinstance(node, ScalarNode) and str(node.value).strip() in ("0", "0s", "0ms"):
        return 0.0
    return reader.duration(node, path)


def _jwks(reader: LocatedReader, node: Node, path: str) -> JwksConfig:
    fields = reader.mapping(node, path, _JWKS_KEYS, "a JWKS source mapping")
    if ("url" in fields) == ("file" in fields):
        reader.fail(node, path, "a JWKS source needs exactly one of url or file")
    settings: dict[str, object] = {}
    if "url" in fields:
        url_node = fields["url"][1]
        url = reader.string(url_node, f"{path}.url").strip()
        if not url.startswith(("http://", "https://")):
            reader.fail(
                url_node, f"{path}.url", f"expected an http(s) URL, got {url!r}"
            )
        settings["url"] = url
    else:
        file_node = fields["file"][1]
        text = reader.string(file_node, f"{path}.file").strip()
        file = (reader.base / Path(text).expanduser()).resolve()
        if not file.is_file():
            reader.fail(file_node, f"{path}.file", f"no such file: {file}")
        settings["file"] = file
    for key in ("refresh_interval", "timeout"):
        if key in fields:
            value = reader.duration(fields[key][1], f"{path}.{key}")
            if value <= 0:
                reader.fail(fields[key][1], f"{path}.{key}", "must be more than 0")
            settings[key] = value
    return JwksConfig(**settings)  # type: ignore[arg-type]


def read_authorization(
    reader: LocatedReader, node: Node, path: str
) -> AuthorizationConfig:
    fields = reader.optional_mapping(node, path, _AUTHORIZATION_KEYS)
    settings: dict[str, object] = {
        key: reader.boolean(fields[key][1], f"{path}.{key}")
        for key in _BOOLEAN_KEYS
        if key in fields
    }
    if "requires_scopes" in fields:
        settings["requires_scopes"] = _scope_rules(
            reader, fields["requires_scopes"][1], f"{path}.requires_scopes"
        )
    return AuthorizationConfig(**settings)  # type: ignore[arg-type]


def _scope_rules(reader: LocatedReader, node: Node, path: str) -> tuple[ScopeRule, ...]:
    rules: list[ScopeRule] = []
    for name, (key, value) in reader.pairs(node, path).items():
        match = _COORDINATE.fullmatch(name)
        if match is None:
            reader.fail(
                key,
                f"{path}.{name}",
                "expected Type.field, Type.* or subgraph:Type.field",
            )
        key_path = f"{path}.{name}"
        if not isinstance(value, SequenceNode) or not value.value:
            reader.fail(
                value, key_path, 'expected a list of scope lists, e.g. [["read:x"]]'
            )
        sets: list[frozenset[str]] = []
        for index, item in enumerate(value.value):
            scopes = _strings(reader, item, f"{key_path}[{index}]")
            sets.append(frozenset(text for _, text in scopes))
        rules.append(ScopeRule(match[1], match[2], match[3], tuple(sets)))
    return tuple(rules)
