"""@shareable root fields are chosen by plan cost, not by config order: listing is
declared first but would need two more fetches (title from catalog, inStock from
stock); catalog answers everything itself (its @provides covers inStock)."""

from typing import Any

from ariadne import QueryType

BOOKS = [
    {"isbn": "1", "title": "Dune", "inStock": True},
    {"isbn": "2", "title": "Emma", "inStock": False},
]


def poor_plan(*_: Any) -> Any:
    raise AssertionError("listing should not be asked: catalog answers in one fetch")


listing_query = QueryType()
listing_query.set_field("featured", poor_plan)

catalog_query = QueryType()
catalog_query.set_field("featured", lambda *_: BOOKS)

SUBGRAPHS = {"listing": [listing_query], "catalog": [catalog_query], "stock": []}
