"""Entity fetches to one subgraph at one depth are one request even at different
paths: the users subgraph gets one operation with two aliased ``_entities``
selections (``latest.@.author`` and ``pinned.author``), each with its own
representations."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

NAMES = {"u1": "Ann", "u2": "Bo"}

posts_query = QueryType()
posts_query.set_field(
    "latest",
    lambda *_: [
        {"title": "One", "author": {"id": "u1"}},
        {"title": "Two", "author": {"id": "u2"}},
    ],
)
posts_query.set_field("pinned", lambda *_: {"author": {"id": "u2"}})


def user_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    return {"id": rep["id"], "name": NAMES[rep["id"]]}


users_user = FederatedObjectType("User")
users_user.reference_resolver(user_reference)

SUBGRAPHS = {"posts": [posts_query], "users": [users_user]}
