"""Null propagation by the client schema: a missing non-null field nulls its parent,
up to the nearest nullable position."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType
from graphql import GraphQLError

NAMES = {"a": "Anvil", "c": "Crate"}

catalog_query = QueryType()
catalog_query.set_field("shelf", lambda *_: [{"id": "a"}, {"id": "x"}, {"id": "boom"}])
catalog_query.set_field(
    "featured", lambda *_: {"title": "Unknown", "item": {"id": "x"}}
)


def reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any] | None:
    # "x" does not exist here: _entities answers null for it
    return None if rep["id"] == "x" else {"id": rep["id"]}


def name(item: dict[str, Any], _info: Any) -> str:
    if item["id"] == "boom":
        raise GraphQLError("name lookup failed")
    return NAMES[item["id"]]


details_item = FederatedObjectType("Item")
details_item.reference_resolver(reference)
details_item.set_field("name", name)

SUBGRAPHS = {"catalog": [catalog_query], "details": [details_item]}
