"""Kubernetes Event recording with aggregation of repeats."""

from kaito.runtime.events.recorder import EventRecorder

__all__ = ["EventRecorder"]
