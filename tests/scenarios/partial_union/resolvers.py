"""Partial unions: ``Item`` is ``Note | Sketch`` in left and ``Note | Chart`` in
right. ``Panel.items`` could be answered by either (Board is an entity of both),
so the answer must not depend on which one the plan picks: only members both
have are selected, and a Sketch comes back with its fields null (Hive Router's
rule; the audit's partial-union suites). ``Notes.items`` only left can answer: all
of its members are selected."""

from ariadne import QueryType, UnionType

ITEMS = [
    {"__typename": "Note", "text": "hello"},
    {"__typename": "Sketch", "strokes": 12},
]

left_query = QueryType()
left_query.set_field("board", lambda *_: {"id": "b1", "panel": {"items": ITEMS}})
left_query.set_field("notes", lambda *_: {"items": ITEMS})
left_item = UnionType("Item", lambda obj, *_: obj["__typename"])

right_item = UnionType("Item", lambda obj, *_: obj["__typename"])

SUBGRAPHS = {"left": [left_query, left_item], "right": [right_item]}
