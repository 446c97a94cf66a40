"""The event sink the reconciler reports to; the runtime's recorder satisfies it."""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None: ...


class NullEvents:
    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        return None
