"""A field of a value type (no key) that only another subgraph resolves is reached
through the nearest entity above it: ``Category.summary`` comes from details
through ``Product``'s key, ``Category.name`` stays in products."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

CATEGORIES = {"p1": "tools", "p2": "garden"}

products_query = QueryType()
products_query.set_field(
    "products",
    lambda *_: [{"id": p, "category": {"name": c}} for p, c in CATEGORIES.items()],
)


def details_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rep["id"],
        "category": {"summary": f"all about {CATEGORIES[rep['id']]}"},
    }


details_product = FederatedObjectType("Product")
details_product.reference_resolver(details_reference)

SUBGRAPHS = {"products": [products_query], "details": [details_product]}
