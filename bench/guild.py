"""The Guild's federation benchmark scenario: four subgraphs, their data and queries.

Our own implementation of the subgraphs of github.com/graphql-hive/graphql-gateways-
benchmark (accounts, inventory, products, reviews): the same schema, the same data
and the same resolver behaviour, written with ariadne over graphql-core. Each
subgraph answers any query of its schema (``_entities`` and ``_service`` included);
an answer is the result of a real execution, memoised per request body because the
data never changes, so the subgraphs stay far from being the bottleneck.

As in the reference, inventory's entity resolver reads only ``upc`` (its own record
has no price or weight), so ``shippingEstimate`` is ``null`` in every answer, and
reviews' ``User`` entity has the username ``"user"`` while ``Review.author``
provides ``"urigo"``. The reference's subgraphs are Federation 1; these are
Federation 2, so accounts' ``User.username`` is ``@shareable`` (reviews provides it).

``python -m bench.guild NAME --port P`` serves one subgraph on /graphql.
"""

from __future__ import annotations

import argparse
from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType, make_federated_schema
from graphql import GraphQLSchema, build_schema, graphql_sync

from bench.loop import serve
from bench.subgraphs import create_app

__all__ = ["HEAVY", "JOIN", "LIGHT", "NAMES", "SDL", "expected_answer", "schema_for"]

_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '

SDL: dict[str, str] = {
    "accounts": _LINK
    + """import: ["@key", "@shareable"])
type Query {
  me: User
  user(id: ID!): User
  users: [User]
}
type User @key(fields: "id") {
  id: ID!
  name: String
  username: String @shareable
  birthday: Int
}
""",
    "inventory": _LINK
    + """import: ["@key", "@external", "@requires"])
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  price: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
}
""",
    "products": _LINK
    + """import: ["@key"])
type Query {
  topProducts(first: Int = 5): [Product]
}
type Product @key(fields: "upc") {
  upc: String!
  name: String
  price: Int
  weight: Int
}
""",
    "reviews": _LINK
    + """import: ["@key", "@external", "@provides"])
type Review @key(fields: "id") {
  id: ID!
  body: String
  product: Product
  author: User @provides(fields: "username")
}
type User @key(fields: "id") {
  id: ID!
  username: String @external
  reviews: [Review]
}
type Product @key(fields: "upc") {
  upc: String!
  reviews: [Review]
}
""",
}
NAMES = tuple(SDL)

USERS: list[dict[str, Any]] = [
    {"id": str(i), "name": name, "username": username, "birthday": 1234567890}
    for i, (name, username) in enumerate(
        [
            ("Uri Goldshtein", "urigo"),
            ("Dotan Simha", "dotansimha"),
            ("Kamil Kisiela", "kamilkisiela"),
            ("Arda Tanrikulu", "ardatan"),
            ("Gil Gardosh", "gilgardosh"),
            ("Laurin Quast", "laurin"),
        ],
        start=1,
    )
]

PRODUCTS: list[dict[str, Any]] = [
    {"upc": str(i), "name": name, "price": price, "weight": weight}
    for i, (name, price, weight) in enumerate(
        [
            ("Table", 899, 100),
            ("Couch", 1299, 1000),
            ("Glass", 15, 20),
            ("Chair", 499, 100),
            ("TV", 1299, 1000),
            ("Lamp", 6999, 300),
            ("Grill", 3999, 2000),
            ("Fridge", 100000, 6000),
            ("Sofa", 9999, 800),
        ],
        start=1,
    )
]

IN_STOCK = {"1", "5", "6", "7", "9"}
INVENTORY: list[dict[str, Any]] = [
    {"upc": str(i), "inStock": str(i) in IN_STOCK, "price": None, "weight": None}
    for i in range(1, 10)
]

_LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis "
    "nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
    "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in "
    "culpa qui officia deserunt mollit anim id est laborum."
)
_SED = (
    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium "
    "doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore "
    "veritatis et quasi architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam "
    "voluptatem quia voluptas sit aspernatur aut odit aut fugi"
)
_QUIA = (
    "sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. "
    "Neque porro quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, "
    "adipisci velit, sed quia non numquam eius modi tempora incidunt ut labore et "
    "dolore magnam aliquam quaerat voluptatem."
)
_MINIMA = (
    "Ut enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit "
    "laboriosam, nisi ut aliquid ex ea commodi consequatur? Quis autem"
)
_VERO = (
    "At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis "
    "praesentium voluptatum deleniti atque corrupti quos dolores et quas molestias "
    "excepturi sint occaecati cupiditate non provident, similique sunt in culpa qui "
    "officia deserunt mollitia animi, id est laborum et dolorum fuga. Et harum quidem "
    "rerum facilis est et expedita distinctio. Nam libero tempore, cum soluta nobis "
    "est eligendi optio cumque nihil impedit quo minus id quod maxime placeat facere "
    "possimus, omnis voluptas assumenda est, omnis dolor repellendus. Temporibus autem "
    "quibusdam et aut officiis debitis aut rerum necessitatibus saepe eveniet ut et "
    "voluptates repudiandae sint et molestiae non recusandae. Itaque earum rerum hic "
    "tenetur a sapiente delectus, ut aut reiciendis voluptatibus maiores alias "
    "consequatur aut perferendis doloribus asperiores repellat."
)
REVIEWS: list[dict[str, Any]] = [
    {"id": str(i), "body": body, "product": {"upc": upc}}
    for i, (body, upc) in enumerate(
        [
            (_LOREM, "1"),
            (_SED, "1"),
            (_QUIA, "1"),
            (_MINIMA, "1"),
            (_LOREM, "2"),
            (_SED, "2"),
            (_QUIA, "2"),
            (_MINIMA, "2"),
            (_MINIMA, "3"),
            (_MINIMA, "4"),
            (_VERO, "4"),
        ],
        start=1,
    )
]

LIGHT = "{ topProducts { name price } }"
JOIN = "{ topProducts { name price reviews { body author { id username } } } }"
HEAVY = """
fragment User on User {
  id
  username
  name
}

fragment Review on Review {
  id
  body
}

fragment Product on Product {
  inStock
  name
  price
  shippingEstimate
  upc
  weight
}

query TestQuery {
  users {
    ...User
    reviews {
      ...Review
      product {
        ...Product
        reviews {
          ...Review
          author {
            ...User
            reviews {
              ...Review
              product {
                ...Product
              }
            }
          }
        }
      }
    }
  }
  topProducts {
    ...Product
    reviews {
      ...Review
      author {
        ...User
        reviews {
          ...Review
          product {
            ...Product
          }
        }
      }
    }
  }
}
"""


def _by(rows: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any] | None:
    return next((row for row in rows if row[key] == value), None)


def _accounts() -> GraphQLSchema:
    query = QueryType()
    user = FederatedObjectType("User")

    @query.field("me")
    def me(*_: Any) -> dict[str, Any]:
        return USERS[0]

    @query.field("user")
    def user_by_id(_: Any, info: Any, id: str) -> dict[str, Any] | None:
        return _by(USERS, "id", id)

    @query.field("users")
    def users(*_: Any) -> list[dict[str, Any]]:
        return USERS

    @user.reference_resolver
    def resolve_user(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any] | None:
        return _by(USERS, "id", ref["id"])

    return make_federated_schema(SDL["accounts"], query, user)


def _inventory() -> GraphQLSchema:
    product = FederatedObjectType("Product")

    @product.reference_resolver
    def resolve_product(
        _: Any, info: Any, ref: dict[str, Any]
    ) -> dict[str, Any] | None:
        # As the reference: the record is found by upc; price and weight are its own.
        return _by(INVENTORY, "upc", ref["upc"])

    @product.field("shippingEstimate")
    def shipping_estimate(obj: dict[str, Any], info: Any) -> int | None:
        price, weight = obj.get("price"), obj.get("weight")
        if price is None:
            return None
        if price > 1000:
            return 0
        return None if weight is None else weight // 2

    return make_federated_schema(SDL["inventory"], product)


def _products() -> GraphQLSchema:
    query = QueryType()
    product = FederatedObjectType("Product")

    @query.field("topProducts")
    def top_products(_: Any, info: Any, first: int | None = 5) -> list[Any]:
        return PRODUCTS[: 5 if first is None else max(first, 0)]

    @product.reference_resolver
    def resolve_product(
        _: Any, info: Any, ref: dict[str, Any]
    ) -> dict[str, Any] | None:
        return _by(PRODUCTS, "upc", ref["upc"])

    return make_federated_schema(SDL["products"], query, product)


def _reviews() -> GraphQLSchema:
    review = FederatedObjectType("Review")
    user = FederatedObjectType("User")
    product = FederatedObjectType("Product")

    @review.reference_resolver
    def resolve_review(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any] | None:
        return _by(REVIEWS, "id", ref["id"])

    @review.field("author")
    def author(*_: Any) -> dict[str, Any]:
        return {"id": "1", "username": "urigo", "reviews": REVIEWS[0:2]}

    @user.reference_resolver
    def resolve_user(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any]:
        return {"id": ref["id"], "username": "user", "reviews": REVIEWS[0:2]}

    @product.reference_resolver
    def resolve_product(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any]:
        return {"upc": ref["upc"]}

    @product.field("reviews")
    def product_reviews(obj: dict[str, Any], info: Any) -> list[dict[str, Any]]:
        return [r for r in REVIEWS if r["product"]["upc"] == obj["upc"]]

    return make_federated_schema(SDL["reviews"], review, user, product)


_FACTORIES = {
    "accounts": _accounts,
    "inventory": _inventory,
    "products": _products,
    "reviews": _reviews,
}


def schema_for(name: str) -> GraphQLSchema:
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise SystemExit(f"unknown Guild subgraph {name!r}") from None


MONOLITH_SDL = """
type Query {
  me: User
  user(id: ID!): User
  users: [User]
  topProducts(first: Int = 5): [Product]
}
type User { id: ID! name: String username: String birthday: Int reviews: [Review] }
type Product {
  upc: String! name: String price: Int weight: Int inStock: Boolean
  shippingEstimate: Int reviews: [Review]
}
type Review { id: ID! body: String product: Product author: User }
"""


def expected_answer(query: str) -> dict[str, Any]:
    """What a correct gateway answers: ``query`` run on one unfederated schema
    whose objects are the four subgraphs' data joined by hand (the oracle the
    bench checks every answer against)."""
    users = {u["id"]: {**u, "reviews": []} for u in USERS}
    stock = {row["upc"]: row["inStock"] for row in INVENTORY}
    products = {
        p["upc"]: {**p, "inStock": stock[p["upc"]], "shippingEstimate": None}
        for p in PRODUCTS
    }
    reviews = [
        {"id": r["id"], "body": r["body"], "product": products[r["product"]["upc"]]}
        for r in REVIEWS
    ]
    for review in reviews:
        review["author"] = users["1"]
    for user in users.values():
        user["reviews"] = reviews[0:2]
    for upc, product in products.items():
        product["reviews"] = [r for r in reviews if r["product"]["upc"] == upc]
    root = {
        "me": users["1"],
        "user": lambda _info, id: users.get(id),
        "users": list(users.values()),
        "topProducts": lambda _info, first=5: [*products.values()][: max(first, 0)],
    }
    result = graphql_sync(build_schema(MONOLITH_SDL), query, root_value=root)
    if result.errors:
        raise SystemExit(f"the oracle cannot run the query: {result.errors}")
    return {"data": result.data}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.guild")
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(create_app(schema_for(args.name)), args.port)


if __name__ == "__main__":
    main()
