"""Fast subgraphs for benchmarks: real graphql-core schemas, answers memoised.

The data is static, so a response is a pure function of (query, variables): the first
request for a pair executes it with graphql-core, later ones are served from a dict.
That keeps the subgraph far from being the bottleneck while every answer is a real
execution result. ``python -m bench.subgraphs NAME --port P``.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
from aiohttp import web
from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType, make_federated_schema
from graphql import GraphQLSchema, graphql_sync

from bench.loop import serve

__all__ = ["PRODUCTS_SDL", "REVIEWS_SDL", "create_app", "schema_for"]

PRODUCTS_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Product @key(fields: "upc") {
  upc: String!
  name: String!
  price: Int!
}
type Query {
  topProducts(first: Int = 5): [Product!]!
}
"""

REVIEWS_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Review {
  id: ID!
  body: String!
  stars: Int!
}
type Product @key(fields: "upc") {
  upc: String!
  reviews: [Review!]!
}
"""

PRODUCTS = [
    {"upc": f"upc-{i}", "name": f"Product {i}", "price": 100 + i} for i in range(20)
]


def _products_schema() -> GraphQLSchema:
    query = QueryType()
    product = FederatedObjectType("Product")

    @query.field("topProducts")
    def top_products(_: Any, info: Any, first: int = 5) -> list[dict[str, Any]]:
        return PRODUCTS[:first]

    @product.reference_resolver
    def resolve_product(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any]:
        return next(p for p in PRODUCTS if p["upc"] == ref["upc"])

    return make_federated_schema(PRODUCTS_SDL, query, product)


def _reviews_schema() -> GraphQLSchema:
    product = FederatedObjectType("Product")

    @product.reference_resolver
    def resolve_product(_: Any, info: Any, ref: dict[str, Any]) -> dict[str, Any]:
        return {"upc": ref["upc"]}

    @product.field("reviews")
    def reviews(obj: dict[str, Any], info: Any) -> list[dict[str, Any]]:
        n = int(obj["upc"].split("-")[1])
        return [
            {
                "id": f"{obj['upc']}-r{j}",
                "body": f"Review {j} of {n}",
                "stars": j % 5 + 1,
            }
            for j in range(2)
        ]

    return make_federated_schema(REVIEWS_SDL, product)


def schema_for(name: str) -> GraphQLSchema:
    if name == "products":
        return _products_schema()
    if name == "reviews":
        return _reviews_schema()
    raise SystemExit(f"unknown bench subgraph {name!r}")


def create_app(schema: GraphQLSchema) -> web.Application:
    memo: dict[bytes, bytes] = {}

    async def graphql(request: web.Request) -> web.Response:
        body = await request.read()
        answer = memo.get(body)
        if answer is None:
            payload = orjson.loads(body)
            result = graphql_sync(
                schema,
                payload["query"],
                variable_values=payload.get("variables"),
                operation_name=payload.get("operationName"),
            )
            out: dict[str, Any] = {"data": result.data}
            if result.errors:
                out["errors"] = [e.formatted for e in result.errors]
            answer = orjson.dumps(out)
            if len(memo) < 10_000:
                memo[body] = answer
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(create_app(schema_for(args.name)), args.port)


if __name__ == "__main__":
    main()
