"""The classic subgraphs, with an inventory resolver that fails for one product."""

from typing import Any

from graphql import GraphQLError

from tests.scenarios.classic import IN_STOCK, classic_subgraphs


def in_stock(obj: dict[str, Any], _info: Any) -> bool:
    if obj["upc"] == "2":
        raise GraphQLError("stock service timed out for upc 2")
    return IN_STOCK[obj["upc"]]


SUBGRAPHS = classic_subgraphs(in_stock)
