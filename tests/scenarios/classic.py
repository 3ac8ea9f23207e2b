"""The classic accounts / products / inventory / reviews example, shared by the
scenario folders that use it: their ``resolvers.py`` call ``classic_subgraphs()``."""

from collections.abc import Callable
from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType

USERS = [
    {"id": "1", "name": "Ada Lovelace", "username": "@ada"},
    {"id": "2", "name": "Alan Turing", "username": "@complete"},
]
PRODUCTS = [
    {"upc": "1", "name": "Table", "price": 899, "weight": 100},
    {"upc": "2", "name": "Couch", "price": 1299, "weight": 1000},
    {"upc": "3", "name": "Chair", "price": 54, "weight": 50},
]
IN_STOCK = {"1": True, "2": False, "3": True}
REVIEWS = [
    {"id": "1", "author": "1", "product": "1", "body": "Love it!"},
    {"id": "2", "author": "1", "product": "2", "body": "Too expensive."},
    {"id": "3", "author": "2", "product": "3", "body": "Could be better."},
    {"id": "4", "author": "2", "product": "1", "body": "Prefer something else."},
]


def _user(user_id: str) -> dict[str, Any] | None:
    return next((u for u in USERS if u["id"] == user_id), None)


def _product(upc: str) -> dict[str, Any] | None:
    return next((p for p in PRODUCTS if p["upc"] == upc), None)


def _in_stock(obj: dict[str, Any], _info: Any) -> bool:
    return IN_STOCK[obj["upc"]]


def classic_subgraphs(
    in_stock: Callable[[dict[str, Any], Any], bool] = _in_stock,
) -> dict[str, list[Any]]:
    """Fresh bindables for the four subgraphs (``in_stock`` resolves
    ``Product.inStock`` in the inventory subgraph)."""
    # accounts
    accounts_query = QueryType()
    accounts_query.set_field("me", lambda *_: USERS[0])
    accounts_query.set_field("user", lambda *_, id: _user(id))
    accounts_user = FederatedObjectType("User")
    accounts_user.reference_resolver(lambda _, _info, rep: _user(rep["id"]))

    # products
    products_query = QueryType()
    products_query.set_field("topProducts", lambda *_, first=5: PRODUCTS[:first])
    products_query.set_field("product", lambda *_, upc: _product(upc))
    products_product = FederatedObjectType("Product")
    products_product.reference_resolver(lambda _, _info, rep: _product(rep["upc"]))

    # inventory: shipping is free above 1000, else half the weight (needs price, weight)
    inventory_product = FederatedObjectType("Product")
    inventory_product.reference_resolver(lambda _, _info, rep: rep)
    inventory_product.set_field("inStock", in_stock)
    inventory_product.set_field(
        "shippingEstimate",
        lambda obj, _info: 0 if obj["price"] > 1000 else obj["weight"] // 2,
    )

    # reviews
    reviews_review = FederatedObjectType("Review")
    reviews_review.reference_resolver(
        lambda _, _info, rep: next((r for r in REVIEWS if r["id"] == rep["id"]), None)
    )
    reviews_review.set_field(
        "author",
        lambda review, _info: {
            "__typename": "User",
            "id": review["author"],
            "username": _user(review["author"])["username"],  # type: ignore[index]
        },
    )
    reviews_review.set_field(
        "product",
        lambda review, _info: {"__typename": "Product", "upc": review["product"]},
    )
    reviews_user = FederatedObjectType("User")
    reviews_user.reference_resolver(lambda _, _info, rep: {"id": rep["id"]})
    reviews_user.set_field(
        "reviews", lambda user, _info: [r for r in REVIEWS if r["author"] == user["id"]]
    )
    reviews_product = FederatedObjectType("Product")
    reviews_product.reference_resolver(lambda _, _info, rep: {"upc": rep["upc"]})
    reviews_product.set_field(
        "reviews",
        lambda product, _info: [r for r in REVIEWS if r["product"] == product["upc"]],
    )

    return {
        "accounts": [accounts_query, accounts_user],
        "products": [products_query, products_product],
        "inventory": [inventory_product],
        "reviews": [reviews_review, reviews_user, reviews_product],
    }
