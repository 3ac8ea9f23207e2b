"""``subgraphs.federation``: one helper makes a Federation 2 subgraph of module
types, with entities resolved one by one or in one batch per type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from ariadne_graphql_modules import ObjectType
from graphql import GraphQLResolveInfo, graphql

from subgraphs.federation import Entity, federation_directives, make_federated_schema


@dataclass(frozen=True)
class Book:
    isbn: str


@dataclass(frozen=True)
class Shelf:
    id: str


class BookType(ObjectType):
    __schema__ = 'type Book @key(fields: "isbn") { isbn: ID! }'
    __requires__ = [*federation_directives("key")]


class ShelfType(ObjectType):
    __schema__ = 'type Shelf @key(fields: "id") @shareable { id: ID! }'
    __requires__ = [*federation_directives("key", "shareable")]


class QueryType(ObjectType):
    __schema__ = "type Query { shelf: Shelf book: Book }"
    __requires__ = [ShelfType, BookType]


ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
    __typename ... on Book { isbn } ... on Shelf { id } } }"""


def _schema(calls: list[list[str]]) -> Any:
    async def books(reps: list[dict[str, Any]], _info: GraphQLResolveInfo) -> list[Any]:
        calls.append([rep["isbn"] for rep in reps])
        return [None if rep["isbn"] == "missing" else Book(rep["isbn"]) for rep in reps]

    def shelf(rep: dict[str, Any], _info: GraphQLResolveInfo) -> Shelf:
        if rep["id"] == "bad":
            raise ValueError("no such shelf")
        return Shelf(rep["id"])

    return make_federated_schema(
        QueryType,
        entities=[
            Entity("Book", Book, resolve_references=books),
            Entity("Shelf", Shelf, resolve_reference=shelf),
        ],
    )


async def test_sdl_links_the_directives_it_uses_and_hides_federation_fields() -> None:
    federated = _schema([])
    assert federated.sdl.startswith(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", "@shareable"])'
    )
    assert "_entities" not in federated.sdl
    result = await graphql(federated.schema, "{ _service { sdl } }")
    assert result.data == {"_service": {"sdl": federated.sdl}}


async def test_batch_resolver_is_called_once_per_type_with_representations_in_order() -> (
    None
):
    calls: list[list[str]] = []
    federated = _schema(calls)
    reps = [
        {"__typename": "Book", "isbn": "1"},
        {"__typename": "Shelf", "id": "s"},
        {"__typename": "Book", "isbn": "missing"},
        {"__typename": "Book", "isbn": "2"},
    ]
    result = await graphql(federated.schema, ENTITIES, variable_values={"reps": reps})
    assert result.errors is None
    assert result.data == {
        "_entities": [
            {"__typename": "Book", "isbn": "1"},
            {"__typename": "Shelf", "id": "s"},
            None,
            {"__typename": "Book", "isbn": "2"},
        ]
    }
    assert calls == [["1", "missing", "2"]]


async def test_a_representation_that_fails_is_an_error_at_its_own_index() -> None:
    federated = _schema([])
    reps = [
        {"__typename": "Shelf", "id": "bad"},
        {"__typename": "Nope"},
        "not an object",
        {"__typename": "Shelf", "id": "ok"},
    ]
    result = await graphql(federated.schema, ENTITIES, variable_values={"reps": reps})
    assert result.data == {
        "_entities": [None, None, None, {"__typename": "Shelf", "id": "ok"}]
    }
    paths = sorted((e.path or [])[1] for e in result.errors or [])
    assert paths == [0, 1, 2]
    codes = {
        (e.path or [])[1]: (e.extensions or {}).get("code") for e in result.errors or []
    }
    assert codes[1] == codes[2] == "BAD_USER_INPUT"


def test_an_entity_needs_exactly_one_resolver() -> None:
    with pytest.raises(ValueError, match="one of"):
        Entity("Book", Book)
    with pytest.raises(ValueError, match="one of"):
        Entity(
            "Book",
            Book,
            resolve_reference=lambda _r, _i: None,
            resolve_references=lambda _r, _i: None,  # type: ignore[arg-type,return-value]
        )
