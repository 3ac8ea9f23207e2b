"""End-to-end fixtures for issue 11's bounds: the real ``gateway serve`` process."""

from __future__ import annotations

from tests.e2e.conftest import start_gateway

__all__ = ["start_gateway"]
