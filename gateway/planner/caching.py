"""CachingQueryPlanner: plans kept in a byte-bounded LRU, so a repeated request does no planning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.caching import DEFAULT_CACHE_BYTES, LRU
from gateway.errors import PlanningError
from gateway.operation import AST_BYTES_PER_CHAR, Operation, document_hash
from gateway.planner.nodes import QueryPlan
from gateway.planner.planner import QueryPlanner
from gateway.supergraph import Supergraph

__all__ = ["PLAN_BYTES_PER_CHAR", "CachingQueryPlanner"]

_PlanKey = tuple[str, bytes, "str | None", tuple[Any, ...]]

PLAN_BYTES_PER_CHAR = 2 * AST_BYTES_PER_CHAR
"""A plan's estimated size per character of its operation: the response shape and
the subgraph documents are each about the size of the client's parsed document."""

_ENTRY_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class _PlanFailure:
    """A planning error, as the payload of the error to raise afresh (a cached
    exception would keep its traceback and the frames of the request that raised
    it alive)."""

    message: str
    code: str

    def error(self) -> PlanningError:
        return PlanningError(self.message, code=self.code)


class CachingQueryPlanner:
    """``QueryPlanner`` with an LRU of plans keyed by (supergraph hash, document hash,
    operation name, ``@skip``/``@include`` variable values), bounded by entries and
    by estimated bytes. Planning is synchronous and runs on the event loop, so two
    misses of one key can never overlap: no lock, no futures."""

    def __init__(
        self,
        supergraph: Supergraph,
        maxsize: int = 1024,
        *,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.planner = QueryPlanner(supergraph)
        self.supergraph = supergraph
        self._plans: LRU[_PlanKey, QueryPlan | _PlanFailure] = LRU(maxsize, max_bytes)

    @property
    def maxsize(self) -> int:
        return self._plans.maxsize

    @property
    def entries(self) -> LRU[_PlanKey, QueryPlan | _PlanFailure]:
        """The cache itself (sizes and counters, for tests and metrics)."""
        return self._plans

    @property
    def plan_count(self) -> int:
        return self.planner.plan_count

    def key(self, operation: Operation, variables: Mapping[str, Any]) -> _PlanKey:
        conditions = tuple(variables.get(n) for n in operation.condition_variables)
        digest = operation.hash or document_hash(operation.query)
        return (self.supergraph.hash, digest, operation.name, conditions)

    def plan(
        self, operation: Operation, variables: Mapping[str, Any] | None = None
    ) -> QueryPlan:
        """The cached plan; a ``PlanningError`` is cached (as its payload) too and
        raised afresh on every hit."""
        variables = variables or {}
        key = self.key(operation, variables)
        entry = self._plans.get(key)
        if entry is None:
            entry = self._miss(key, operation, variables)
        if isinstance(entry, _PlanFailure):
            raise entry.error()
        return entry

    def _miss(
        self, key: _PlanKey, operation: Operation, variables: Mapping[str, Any]
    ) -> QueryPlan | _PlanFailure:
        entry: QueryPlan | _PlanFailure
        try:
            entry = self.planner.plan(operation, variables)
        except PlanningError as exc:
            entry = _PlanFailure(exc.message, exc.code)
        nbytes = (
            _ENTRY_OVERHEAD + 2 * len(entry.message)
            if isinstance(entry, _PlanFailure)
            else _ENTRY_OVERHEAD
            + PLAN_BYTES_PER_CHAR * len(operation.query)
            + entry.program.nbytes
        )
        self._plans.put(key, entry, nbytes)
        return entry
