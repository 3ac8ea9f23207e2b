"""Mutations that write to one shared log: the log each returns shows the order in
which the gateway ran them (and each field's entity follow-up before the next)."""

from typing import Any

from ariadne import MutationType, QueryType
from ariadne.contrib.federation import FederatedObjectType

LOG: list[str] = []
ORDERS: list[dict[str, Any]] = []


def place_order(*_: Any, item: str) -> dict[str, Any]:
    order = {"id": f"o{len(ORDERS) + 1}", "item": item}
    ORDERS.append(order)
    LOG.append(f"order:{item}")
    return {**order, "log": list(LOG)}


def record(*_: Any, entry: str) -> dict[str, Any]:
    LOG.append(f"record:{entry}")
    return {"entry": entry, "log": list(LOG)}


def label(order: dict[str, Any], _info: Any) -> str:
    LOG.append(f"label:{order['id']}")
    return f"ship {order['id']}"


orders_query = QueryType()
orders_query.set_field("orders", lambda *_: ORDERS)
orders_mutation = MutationType()
orders_mutation.set_field("placeOrder", place_order)
ledger_query = QueryType()
ledger_query.set_field("entries", lambda *_: list(LOG))
ledger_mutation = MutationType()
ledger_mutation.set_field("record", record)
shipping_order = FederatedObjectType("Order")
shipping_order.reference_resolver(lambda _, _info, rep: rep)
shipping_order.set_field("label", label)

SUBGRAPHS = {
    "orders": [orders_query, orders_mutation],
    "ledger": [ledger_query, ledger_mutation],
    "shipping": [shipping_order],
}
