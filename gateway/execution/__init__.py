"""Execution: walking a plan (fetch), merging answers, completing the response.

See docs/federation.md.
"""

from __future__ import annotations

from gateway.execution.completion import complete
from gateway.execution.executor import Executor
from gateway.execution.merge import merge

__all__ = ["Executor", "complete", "merge"]
