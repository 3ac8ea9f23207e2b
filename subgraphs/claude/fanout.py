"""Live output fan-out: one bounded buffer per subscriber, never blocking the writer.

A subscriber that falls more than ``maxsize`` events behind is marked ``lagged``
and its buffer is dropped; the reader then catches up from SQLite (every event is
stored before it is published), so a slow client loses nothing and the runner never
waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from subgraphs.claude.store import OutputEvent

__all__ = ["EventFanout", "LiveSubscription"]


class LiveSubscription:
    """One reader's buffer of live events for one session."""

    def __init__(self, session_id: str, maxsize: int, deltas: bool = False) -> None:
        self.session_id = session_id
        self.maxsize = maxsize
        self.deltas = deltas
        """Whether it wants live deltas (which are never stored)."""
        self.lagged = False
        self._items: deque[OutputEvent] = deque()
        self._wake = asyncio.Event()

    def push(self, event: OutputEvent) -> None:
        if self.lagged:
            return
        if len(self._items) >= self.maxsize:
            self.lagged = True
            self._items.clear()
        else:
            self._items.append(event)
        self._wake.set()

    def catch_up(self) -> None:
        """Leave the lagged state; the caller then reads the gap from SQLite."""
        self.lagged = False

    async def wait(self) -> list[OutputEvent]:
        """The buffered events, waiting for at least one (or for ``lagged``)."""
        while not self._items and not self.lagged:
            self._wake.clear()
            await self._wake.wait()
        items = list(self._items)
        self._items.clear()
        return items


class EventFanout:
    """Publishes each session's events to that session's live subscriptions."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._subscriptions: dict[str, set[LiveSubscription]] = {}

    def subscribe(self, session_id: str, deltas: bool = False) -> LiveSubscription:
        subscription = LiveSubscription(session_id, self.maxsize, deltas)
        self._subscriptions.setdefault(session_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: LiveSubscription) -> None:
        subscriptions = self._subscriptions.get(subscription.session_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.session_id]

    def publish(self, event: OutputEvent) -> None:
        stored = event.stored
        for subscription in tuple(self._subscriptions.get(event.session_id, ())):
            if stored or subscription.deltas:
                subscription.push(event)

    def subscriber_count(self, session_id: str) -> int:
        return len(self._subscriptions.get(session_id, ()))
