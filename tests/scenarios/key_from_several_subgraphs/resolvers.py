"""A key assembled from several subgraphs: pricing is entered by ``id sku``; orders
has ``id``, skus has ``sku``; skus is asked first, then pricing is sent both,
through the key the planner checked."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

SKUS = {"l1": "TEA", "l2": "CUP"}
PRICES = {"TEA": 4, "CUP": 9}

orders_query = QueryType()
orders_query.set_field(
    "lines", lambda *_: [{"id": "l1", "quantity": 3}, {"id": "l2", "quantity": 1}]
)

skus_line = FederatedObjectType("Line")
skus_line.reference_resolver(
    lambda _o, _i, rep: {"id": rep["id"], "sku": SKUS[rep["id"]]}
)


def pricing_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    assert rep.keys() == {"__typename", "id", "sku"}, rep
    return {"id": rep["id"], "sku": rep["sku"], "total": PRICES[rep["sku"]]}


pricing_line = FederatedObjectType("Line")
pricing_line.reference_resolver(pricing_reference)

SUBGRAPHS = {"orders": [orders_query], "skus": [skus_line], "pricing": [pricing_line]}
