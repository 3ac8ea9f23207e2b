"""Cosmo's demo shape (employees/family): a @shareable value-type field whose
selection needs a field only the second subgraph has; reached through the parent
entity's key, the first subgraph's part stays where it is."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

PEOPLE = {
    1: {"firstName": "Ada", "lastName": "Byron", "hasKids": True},
    2: {"firstName": "Alan", "lastName": "Turing", "hasKids": False},
}

staff_query = QueryType()
staff_query.set_field(
    "staff",
    lambda *_: [
        {"id": i, "profile": {k: p[k] for k in ("firstName", "lastName")}}
        for i, p in PEOPLE.items()
    ],
)


def worker_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    return {"id": rep["id"], "profile": PEOPLE[rep["id"]]}


household_worker = FederatedObjectType("Worker")
household_worker.reference_resolver(worker_reference)

SUBGRAPHS = {"staff": [staff_query], "household": [household_worker]}
