"""A selection no path reaches is a planning error (QUERY_PLANNING_FAILED, data
null), never a silently dropped field: ``Entity.id`` of a Room cannot come from
people (@external there, and Room can only be entered by that id), that of a
Person not from rooms, and one runtime type is never split across subgraphs."""

from typing import Any

from ariadne import QueryType


def never(*_: Any) -> Any:
    raise AssertionError("no subgraph is asked for an unplannable operation")


people_query = QueryType()
people_query.set_field("find", never)
rooms_query = QueryType()
rooms_query.set_field("find", never)

SUBGRAPHS = {"people": [people_query], "rooms": [rooms_query]}
