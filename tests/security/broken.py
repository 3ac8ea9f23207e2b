"""An in-process subgraph whose resolvers fail as real code does: a bug, an OS error
with a server path in it, and an error raised on purpose that carries internals."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ariadne import QueryType
from ariadne.contrib.federation import make_federated_schema
from graphql import GraphQLError

from gateway.local import LocalSubgraph

__all__ = ["SDL", "create_subgraph"]

SDL = """
type Query {
  "A bug: what `first: null` used to do in the git subgraph."
  crash: String
  "An OS error whose text holds an absolute server path."
  readFile(path: String!): String
  "An error raised on purpose, with internals in its extensions."
  refuse: String
}
"""


def create_subgraph(options: Mapping[str, Any]) -> LocalSubgraph:
    query = QueryType()

    @query.field("crash")
    def crash(*_: Any) -> str:
        limit: Any = None
        return "a" * limit if 1 <= limit else ""

    @query.field("readFile")
    def read_file(_: Any, __: Any, path: str) -> str:
        with open(os.path.join(os.getcwd(), path)) as file:
            return file.read()

    @query.field("refuse")
    def refuse(*_: Any) -> str:
        raise GraphQLError(
            "refused on purpose",
            extensions={
                "code": "REFUSED",
                "stacktrace": [f"File {__file__}, line 1"],
                "exception": {"cwd": os.getcwd()},
            },
        )

    return LocalSubgraph(schema=make_federated_schema(SDL, query), sdl=SDL)
