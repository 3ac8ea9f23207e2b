"""An interface whose implementations get fields from a second subgraph."""

from typing import Any

from ariadne import InterfaceType, QueryType
from ariadne.contrib.federation import FederatedObjectType

MEDIA = [
    {"__typename": "Book", "id": "b1", "title": "Dune", "pages": 412},
    {"__typename": "Movie", "id": "m1", "title": "Alien"},
    {"__typename": "Book", "id": "b2", "title": "Solaris", "pages": 204},
]
RATINGS = {"b1": 5, "b2": 4, "m1": 5}
MINUTES = {"m1": 117}

catalog_query = QueryType()
catalog_query.set_field("media", lambda *_: MEDIA)
catalog_media = InterfaceType("Media", lambda obj, *_: obj["__typename"])


def _ratings_entity(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    return {"id": rep["id"]}


ratings_book = FederatedObjectType("Book")
ratings_book.reference_resolver(_ratings_entity)
ratings_book.set_field("rating", lambda obj, _info: RATINGS[obj["id"]])
ratings_movie = FederatedObjectType("Movie")
ratings_movie.reference_resolver(_ratings_entity)
ratings_movie.set_field("rating", lambda obj, _info: RATINGS[obj["id"]])
ratings_movie.set_field("minutes", lambda obj, _info: MINUTES[obj["id"]])

SUBGRAPHS = {
    "catalog": [catalog_query, catalog_media],
    "ratings": [ratings_book, ratings_movie],
}
