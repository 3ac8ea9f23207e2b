"""Values are completed against the client schema: an @inaccessible enum value
from a subgraph becomes null with an error at its path (as Apollo Router does),
then null propagation applies (a non-null list item nulls the list)."""

from ariadne import QueryType

users_query = QueryType()
users_query.set_field(
    "users",
    lambda *_: [
        {"id": "u1", "kind": "ADMIN", "badges": ["REGULAR", "ADMIN"]},
        {"id": "u2", "kind": "ROBOT", "badges": ["REGULAR", "ROBOT"]},
    ],
)

SUBGRAPHS = {"users": [users_query], "teams": []}
