"""@interfaceObject at the root: reviews returns Media objects it knows only as
``Media``; catalog is asked (through ``_entities``) what each really is."""

from typing import Any

from ariadne import InterfaceType, QueryType
from ariadne.contrib.federation import FederatedObjectType
from ariadne.contrib.federation.schema import resolve_entities
from graphql import GraphQLResolveInfo, GraphQLSchema

MEDIA = {
    "b1": {"__typename": "Book", "id": "b1", "title": "Dune", "pages": 412},
    "m1": {"__typename": "Movie", "id": "m1", "title": "Alien"},
}
STARS = {"b1": 5, "m1": 4}

catalog_query = QueryType()
catalog_query.set_field("media", lambda *_: list(MEDIA.values()))
catalog_media = InterfaceType("Media", lambda obj, *_: obj["__typename"])
catalog_book = FederatedObjectType("Book")
catalog_book.reference_resolver(lambda _, _info, rep: MEDIA.get(rep["id"]))
catalog_movie = FederatedObjectType("Movie")
catalog_movie.reference_resolver(lambda _, _info, rep: MEDIA.get(rep["id"]))


def catalog_entities(
    obj: Any, info: GraphQLResolveInfo, representations: list[dict[str, Any]]
) -> list[Any]:
    """Federation 2.3 entity interfaces, which ariadne does not resolve: a
    ``Media`` representation is answered with the concrete object."""
    found: list[Any] = []
    for rep in representations:
        if rep["__typename"] == "Media":
            found.append(MEDIA.get(rep["id"]))
        else:
            found.extend(resolve_entities(obj, info, representations=[rep]))
    return found


def entity_interfaces(schema: GraphQLSchema) -> None:
    assert schema.query_type is not None
    schema.query_type.fields["_entities"].resolve = catalog_entities


reviews_query = QueryType()
reviews_query.set_field("topRated", lambda *_: [{"id": "m1"}, {"id": "b1"}])
reviews_media = FederatedObjectType("Media")
reviews_media.reference_resolver(lambda _, _info, rep: {"id": rep["id"]})
reviews_media.set_field("stars", lambda obj, _info: STARS[obj["id"]])

SUBGRAPHS = {
    "catalog": [catalog_query, catalog_media, catalog_book, catalog_movie],
    "reviews": [reviews_query, reviews_media],
}
SCHEMA_HOOKS = {"catalog": entity_interfaces}
