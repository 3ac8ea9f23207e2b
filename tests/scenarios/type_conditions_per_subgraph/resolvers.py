"""Type conditions valid in the target subgraph only: ``Oven`` is a ``Device``
in energy but not in kitchen, so the kitchen operation never spreads
``... on Oven`` under ``Device`` (kitchen would reject it)."""

from ariadne import InterfaceType, QueryType

kitchen_query = QueryType()
kitchen_query.set_field(
    "appliances",
    lambda *_: [
        {"__typename": "Toaster", "id": "t1", "slots": 2},
        {"__typename": "Toaster", "id": "t2", "slots": 4},
    ],
)
kitchen_device = InterfaceType("Device", lambda obj, *_: obj["__typename"])

SUBGRAPHS = {"kitchen": [kitchen_query, kitchen_device], "energy": []}
