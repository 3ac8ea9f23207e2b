"""The claude subgraph's Prometheus figures: commands by status, commands running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from subgraphs.claude.service import ClaudeService

__all__ = ["CommandCollector"]


class CommandCollector(Collector):
    """Read at scrape time from the service's own counts."""

    def __init__(self, service: ClaudeService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        finished = CounterMetricFamily(
            "claude_commands",
            "Claude commands that ended, by final status.",
            labels=["status"],
        )
        for status, count in sorted(self._service.finished_commands.items()):
            finished.add_metric([status], float(count))
        yield finished
        yield GaugeMetricFamily(
            "claude_commands_running",
            "Claude commands running now.",
            value=float(self._service.running_commands),
        )
