"""gateway.headers.HeaderPolicy: which client headers each subgraph is sent."""

from __future__ import annotations

from gateway.config import HeaderRule
from gateway.headers import HeaderPolicy

INCOMING = {"Authorization": "Bearer t", "X-Tenant": "acme", "Cookie": "secret"}


def test_common_rules_apply_to_every_subgraph_then_its_own() -> None:
    policy = HeaderPolicy.from_rules(
        [HeaderRule(op="propagate", named="Authorization")],
        {"a": [HeaderRule(op="propagate", named="X-Tenant")], "b": []},
    )
    forward = policy.for_request(INCOMING)
    assert dict(forward["a"]) == {"Authorization": "Bearer t", "X-Tenant": "acme"}
    assert dict(forward["b"]) == {"Authorization": "Bearer t"}


def test_a_subgraph_without_rules_is_sent_nothing() -> None:
    policy = HeaderPolicy.from_rules([], {"a": [], "b": []})
    assert policy.for_request(INCOMING) == {}


def test_each_subgraphs_headers_are_computed_once_per_request() -> None:
    policy = HeaderPolicy.from_rules(
        [HeaderRule(op="propagate", named="Authorization")], {"a": []}
    )
    forward = policy.for_request(INCOMING)
    assert forward["a"] is forward["a"]


def test_a_set_rule_takes_its_value_from_a_claim_of_the_verified_token() -> None:
    policy = HeaderPolicy.from_rules(
        [
            HeaderRule(op="set", name="X-User-Id", claim="sub"),
            HeaderRule(op="set", name="X-Roles", claim="realm.roles"),
            HeaderRule(op="set", name="X-Missing", claim="nope"),
        ],
        {"a": []},
    )
    claims = {"sub": "u1", "realm": {"roles": ["dev", "ops"]}}
    assert dict(policy.for_request(INCOMING, claims)["a"]) == {
        "X-User-Id": "u1",
        "X-Roles": "dev,ops",
    }
    # Without a token, nothing is set: a client header of that name is not used.
    assert dict(policy.for_request({"X-User-Id": "forged"})["a"]) == {}


def test_a_claim_with_a_line_break_sets_no_header() -> None:
    policy = HeaderPolicy.from_rules(
        [HeaderRule(op="set", name="X-User-Id", claim="sub")], {"a": []}
    )
    assert dict(policy.for_request({}, {"sub": "u1\r\nX-Admin: 1"})["a"]) == {}
