"""A union whose members are entities extended by another subgraph."""

from typing import Any

from ariadne import QueryType, UnionType
from ariadne.contrib.federation import FederatedObjectType

RESULTS = [
    {"__typename": "Paper", "doi": "10.1/turing", "title": "On Computable Numbers"},
    {"__typename": "Author", "id": "a1", "name": "Alan Turing"},
    {"__typename": "Paper", "doi": "10.1/shannon", "title": "A Mathematical Theory"},
]
CITED_BY = {"10.1/turing": 11000, "10.1/shannon": 150000}
H_INDEX = {"a1": 30}

search_query = QueryType()
search_query.set_field(
    "search",
    lambda *_, text: [r for r in RESULTS if text.lower() in str(r).lower()],
)
search_result = UnionType("SearchResult", lambda obj, *_: obj["__typename"])


def _entity(_: Any, _info: Any, rep: dict[str, Any]) -> dict[str, Any]:
    return rep


citations_paper = FederatedObjectType("Paper")
citations_paper.reference_resolver(_entity)
citations_paper.set_field("citedBy", lambda obj, _info: CITED_BY[obj["doi"]])
citations_author = FederatedObjectType("Author")
citations_author.reference_resolver(_entity)
citations_author.set_field("hIndex", lambda obj, _info: H_INDEX[obj["id"]])

SUBGRAPHS = {
    "search": [search_query, search_result],
    "citations": [citations_paper, citations_author],
}
