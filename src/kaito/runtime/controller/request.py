"""What a reconciler receives and returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class Request:
    """The key of the object to reconcile. ``namespace`` is ``""`` for cluster-scoped objects."""

    namespace: str
    name: str

    @classmethod
    def for_object(cls, obj: dict[str, Any]) -> Request:
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name", "")))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    """What to do after a successful reconcile.

    * ``Result()`` or ``None``: done; the key's backoff is reset.
    * ``requeue_after=s``: reconcile again after ``s`` seconds (backoff reset).
    * ``requeue=True``: reconcile again after the rate limiter's delay (exponential per key).
    """

    requeue: bool = False
    requeue_after: float = 0.0


class TerminalError(Exception):
    """Raise from a reconciler for errors that retrying cannot fix: counted and logged, not requeued."""
