"""Workspace metrics: counts by phase and preset (computed from the cache at scrape time, so they are
always exact and cost nothing between scrapes) and the time from creation to Ready."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kaito.api.constants import STATE_DELETING, STATE_PENDING
from kaito.api.views import as_workspace
from kaito.runtime.objects import created_at, is_deleting
from kaito.workspace.names import STATES

READY_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


def preset_name(workspace: Mapping[str, Any]) -> str:
    ws = as_workspace(workspace)
    inference = ws.get("inference", {})
    name = (ws.get("tuning") or inference).get("preset", {}).get("name")
    template: dict[str, Any] | None = inference.get("template")
    return name if name else ("template" if template else "")


def phase_of(workspace: Mapping[str, Any]) -> str:
    if is_deleting(workspace):
        return STATE_DELETING.lower()
    return as_workspace(workspace).get("status", {}).get("state", STATE_PENDING).lower()


class _CountCollector(Collector):
    def __init__(self, workspaces: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._workspaces = workspaces

    def collect(self) -> Iterator[GaugeMetricFamily]:
        items = list(self._workspaces())
        phases = Counter(phase_of(w) for w in items)
        presets = Counter(preset_name(w) for w in items)
        count = GaugeMetricFamily("kaito_workspace_count", "Number of workspaces by phase", labels=["phase"])
        for phase in (s.lower() for s in STATES):
            count.add_metric([phase], phases.get(phase, 0))
        yield count
        by_preset = GaugeMetricFamily(
            "kaito_workspace_preset_count", "Number of workspaces by preset", labels=["preset"]
        )
        for preset, value in sorted(presets.items()):
            by_preset.add_metric([preset], value)
        yield by_preset


class WorkspaceMetrics:
    def __init__(
        self, registry: CollectorRegistry, workspaces: Callable[[], Iterable[Mapping[str, Any]]]
    ) -> None:
        registry.register(_CountCollector(workspaces))
        self.ready_seconds = Histogram(
            "kaito_workspace_ready_seconds",
            "Seconds from a workspace's creation to its first Ready (or Succeeded)",
            ["preset"],
            buckets=READY_BUCKETS,
            registry=registry,
        )

    def observe_ready(self, workspace: Mapping[str, Any], now: datetime | None = None) -> None:
        start = created_at(workspace)
        if start is None:
            return
        elapsed = ((now or datetime.now(UTC)) - start).total_seconds()
        self.ready_seconds.labels(preset=preset_name(workspace)).observe(max(0.0, elapsed))
