"""@requires field sets with arguments: the required ``price`` is fetched with the
arguments the field set names, each argument set under an alias of its own (the
client's own ``price(currency: "GBP")`` too), and sent as ``price`` in the
representation; two argument sets need two entity fetches."""

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

RATES = {"USD": 1.0, "EUR": 0.9, "GBP": 0.8}
BASE = {"i1": 100, "i2": 250}

catalog_query = QueryType()
catalog_query.set_field("items", lambda *_: [{"id": i} for i in BASE])
catalog_item = FederatedObjectType("Item")
catalog_item.set_field(
    "price", lambda item, _info, currency: round(BASE[item["id"]] * RATES[currency])
)

shipping_item = FederatedObjectType("Item")
shipping_item.reference_resolver(lambda _o, _i, rep: rep)
shipping_item.set_field("feeUSD", lambda item, _info: item["price"] // 10)
shipping_item.set_field("feeEUR", lambda item, _info: item["price"] // 10)

SUBGRAPHS = {"catalog": [catalog_query, catalog_item], "shipping": [shipping_item]}
