"""A shared root field returning a value type (no key) whose fields live in two
subgraphs: the root field is asked of both, each for its part, and the answers
are merged."""

from ariadne import QueryType

names_query = QueryType()
names_query.set_field("offer", lambda *_: {"id": "o1", "title": "Kettle"})

prices_query = QueryType()
prices_query.set_field(
    "offer", lambda *_: {"id": "o1", "price": {"amount": 30, "currency": "EUR"}}
)

SUBGRAPHS = {"names": [names_query], "prices": [prices_query]}
