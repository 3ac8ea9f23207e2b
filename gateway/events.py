"""What a subscription or a streamed operation yields: one result and its event id."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["EVENT_ID", "StreamEvent"]

EVENT_ID = "eventId"
"""The key of a result's ``extensions`` that carries its event id."""


class StreamEvent(NamedTuple):
    """One result to send: ``id`` becomes the SSE event id (``None``: numbered)."""

    id: str | None
    payload: dict[str, Any]
