"""CachingQueryPlanner: plans kept in an LRU, so a repeated request does no planning."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from gateway.errors import PlanningError
from gateway.operation import Operation
from gateway.planner.nodes import QueryPlan
from gateway.planner.planner import QueryPlanner
from gateway.supergraph import Supergraph

__all__ = ["CachingQueryPlanner"]

_PlanKey = tuple[str, str, "str | None", tuple[Any, ...]]


class CachingQueryPlanner:
    """``QueryPlanner`` with an LRU of plans keyed by (supergraph hash, document text,
    operation name, ``@skip``/``@include`` variable values). Concurrent misses for the
    same key (from threads) wait for one shared future instead of planning twice."""

    def __init__(self, supergraph: Supergraph, maxsize: int = 1024) -> None:
        self.planner = QueryPlanner(supergraph)
        self.supergraph = supergraph
        self.maxsize = max(0, maxsize)
        self._plans: OrderedDict[_PlanKey, QueryPlan | PlanningError] = OrderedDict()
        self._pending: dict[
            _PlanKey, concurrent.futures.Future[QueryPlan | PlanningError]
        ] = {}
        self._lock = threading.Lock()

    @property
    def plan_count(self) -> int:
        return self.planner.plan_count

    def key(self, operation: Operation, variables: Mapping[str, Any]) -> _PlanKey:
        conditions = tuple(variables.get(n) for n in operation.condition_variables)
        return (self.supergraph.hash, operation.query, operation.name, conditions)

    def plan(
        self, operation: Operation, variables: Mapping[str, Any] | None = None
    ) -> QueryPlan:
        """The cached plan; a ``PlanningError`` is cached (and raised) too."""
        variables = variables or {}
        key = self.key(operation, variables)
        entry = self._plans.get(key)
        if entry is None:
            entry = self._miss(key, operation, variables)
        else:
            try:
                self._plans.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile
                pass
        if isinstance(entry, PlanningError):
            raise entry
        return entry

    def _miss(
        self, key: _PlanKey, operation: Operation, variables: Mapping[str, Any]
    ) -> QueryPlan | PlanningError:
        with self._lock:
            entry = self._plans.get(key)
            if entry is not None:
                return entry
            future = self._pending.get(key)
            owner = future is None
            if future is None:
                future = self._pending[key] = concurrent.futures.Future()
        if not owner:
            return future.result()
        try:
            entry = self.planner.plan(operation, variables)
        except PlanningError as exc:
            entry = exc
        except BaseException as exc:
            future.set_exception(exc)
            with self._lock:
                self._pending.pop(key, None)
            raise
        with self._lock:
            if self.maxsize:
                self._plans[key] = entry
                if len(self._plans) > self.maxsize:
                    self._plans.popitem(last=False)
            self._pending.pop(key, None)
        future.set_result(entry)
        return entry
