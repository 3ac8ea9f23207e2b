"""The cyclic garbage collector tuned for a long-running server process.

After start-up the gateway holds many long-lived container objects (the client and
subgraph schemas, the query graph, cached documents and plans) that never become
garbage; every full collection would walk them again. ``freeze_long_lived`` moves
what exists after start-up to the permanent generation (``gc.freeze()``), and
``tune`` raises the young-generation threshold, so that a request's short-lived
dicts and lists are mostly freed by reference counting before a collection runs
(the request path creates few reference cycles). Called by the server only, never
on import: a library user's process keeps its own settings.
See https://docs.python.org/3/library/gc.html#gc.freeze
"""

from __future__ import annotations

import gc
import logging

__all__ = ["THRESHOLDS", "freeze_long_lived", "tune"]

logger = logging.getLogger("gateway.collector")

THRESHOLDS = (20_000, 20, 20)
"""Generation 0 runs after 20 000 net allocations (CPython's default: 700), the
older generations after 20 collections of the younger one (default: 10)."""


def tune() -> None:
    """Set ``THRESHOLDS``."""
    gc.set_threshold(*THRESHOLDS)


def freeze_long_lived() -> None:
    """Collect once, then exempt every object alive now from later collections."""
    gc.collect()
    gc.freeze()
    logger.debug("froze %d long-lived objects", gc.get_freeze_count())
