"""@interfaceObject: reviews adds ``stars`` to every Media without knowing the
implementations; it is sent ``{"__typename": "Media", "id": ...}``."""

from typing import Any

from ariadne import InterfaceType, QueryType
from ariadne.contrib.federation import FederatedObjectType

MEDIA = [
    {"__typename": "Book", "id": "b1", "title": "Dune", "pages": 412},
    {"__typename": "Movie", "id": "m1", "title": "Alien"},
]
STARS = {"b1": 5, "m1": 4}

catalog_query = QueryType()
catalog_query.set_field("media", lambda *_: MEDIA)
catalog_media = InterfaceType("Media", lambda obj, *_: obj["__typename"])


def media_reference(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    assert rep["__typename"] == "Media", rep  # never a Book or Movie here
    return {"id": rep["id"]}


reviews_media = FederatedObjectType("Media")
reviews_media.reference_resolver(media_reference)
reviews_media.set_field("stars", lambda obj, _info: STARS[obj["id"]])

SUBGRAPHS = {"catalog": [catalog_query, catalog_media], "reviews": [reviews_media]}
