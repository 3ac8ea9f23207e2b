"""Composition problems as they are found: errors stop composition, hints are logged."""

from __future__ import annotations

from gateway.errors import CompositionError, CompositionIssue

__all__ = ["Issues"]


class Issues:
    """Collects errors (raised at the end of a step) and hints (logged)."""

    def __init__(self) -> None:
        self.errors: list[CompositionIssue] = []
        self.hints: list[CompositionIssue] = []

    def error(self, code: str, message: str, *subgraphs: str) -> None:
        self.errors.append(CompositionIssue(code, message, tuple(subgraphs)))

    def hint(self, code: str, message: str, *subgraphs: str) -> None:
        self.hints.append(CompositionIssue(code, message, tuple(subgraphs)))

    def raise_if_any(self) -> None:
        if self.errors:
            raise CompositionError(self.errors)
