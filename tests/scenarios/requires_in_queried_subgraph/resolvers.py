"""@requires on a field of the subgraph already queried: ``postage`` sits in shop,
which answers ``parcels``, but it needs ``weight`` from warehouse first; shop is
asked again through ``_entities`` with the weight in the representation."""

from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

WEIGHTS = {"p1": 2, "p2": 7}

shop_query = QueryType()
shop_query.set_field(
    "parcels",
    lambda *_: [{"id": "p1", "label": "books"}, {"id": "p2", "label": "tools"}],
)


def shop_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    assert "weight" in rep, rep  # never resolved without its requirement
    return {"id": rep["id"], "weight": rep["weight"]}


shop_parcel = FederatedObjectType("Parcel")
shop_parcel.reference_resolver(shop_reference)
shop_parcel.set_field("postage", lambda parcel, _info: 100 + 10 * parcel["weight"])

warehouse_parcel = FederatedObjectType("Parcel")
warehouse_parcel.reference_resolver(
    lambda _obj, _info, rep: {"id": rep["id"], "weight": WEIGHTS[rep["id"]]}
)

SUBGRAPHS = {"shop": [shop_query, shop_parcel], "warehouse": [warehouse_parcel]}
