"""Cursors over GitHub's page-numbered lists, and the ``Link`` header.

A cursor names one item by its place in GitHub's listing: page, index in the page
and page size (pages only line up with the same size). ``after`` a cursor, the
listing continues from that page, then follows ``rel="next"`` links.

See https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
and RFC 8288 for the ``Link`` header.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from subgraphs.github.errors import BadUserInputError

__all__ = [
    "MAX_PAGE_SIZE",
    "Position",
    "decode_cursor",
    "encode_cursor",
    "next_link",
    "page_number",
    "page_size",
]

MAX_PAGE_SIZE = 100
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?')


def page_size(first: object) -> int:
    """``first`` as a page size in 0..MAX_PAGE_SIZE; ``BAD_USER_INPUT`` otherwise
    (``null`` included), before anything is asked of GitHub."""
    if isinstance(first, bool) or not isinstance(first, int):
        raise BadUserInputError(
            f"'first' must be an integer between 0 and {MAX_PAGE_SIZE}"
        )
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInputError(f"'first' must be between 0 and {MAX_PAGE_SIZE}")
    return first


@dataclass(frozen=True, slots=True)
class Position:
    page: int
    index: int
    per_page: int


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.page, position.index, position.per_page])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        page, index, per_page = json.loads(base64.urlsafe_b64decode(padded))
        position = Position(int(page), int(index), int(per_page))
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise BadUserInputError(f"invalid cursor {cursor!r}") from None
    if (
        position.page < 1
        or position.index < 0
        or not 1 <= position.per_page <= MAX_PAGE_SIZE
    ):
        raise BadUserInputError(f"invalid cursor {cursor!r}")
    return position


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if there is one."""
    if not header:
        return None
    for match in _LINK.finditer(header):
        for rel in _REL_NEXT.findall(match.group(2)):
            if "next" in rel.split():
                return match.group(1)
    return None


def page_number(url: str, default: int) -> int:
    """The ``page`` query parameter of ``url``."""
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else default
    except ValueError:
        return default
