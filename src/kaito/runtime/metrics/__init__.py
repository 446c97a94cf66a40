"""Prometheus metrics with controller-runtime's names and labels, one registry per Manager."""

from kaito.runtime.metrics.registry import QueueMetrics, RuntimeMetrics

__all__ = ["QueueMetrics", "RuntimeMetrics"]
