"""Same-named fields with conflicting types in one subgraph operation: the client
schema has ``id: ID`` on both Member and Operator, but accounts types Member's
``ID!``, and GraphQL forbids ``ID!`` beside ``ID`` in one selection set; the
subgraph operation aliases them and the response has them back as ``id``."""

from ariadne import QueryType, UnionType
from ariadne.contrib.federation import FederatedObjectType

accounts_query = QueryType()
accounts_query.set_field(
    "accounts",
    lambda *_: [
        {"__typename": "Member", "id": "m1", "name": "Ann"},
        {"__typename": "Operator", "id": None, "name": "cron"},
    ],
)
accounts_union = UnionType("Account", lambda obj, *_: obj["__typename"])

audit_member = FederatedObjectType("Member")
audit_member.reference_resolver(
    lambda _obj, _info, rep: {"id": rep["id"], "lastLogin": "2026-01-02"}
)

SUBGRAPHS = {"accounts": [accounts_query, accounts_union], "audit": [audit_member]}
