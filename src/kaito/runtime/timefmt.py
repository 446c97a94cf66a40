"""Kubernetes timestamps: ``metav1.Time`` (RFC 3339, seconds) and ``MicroTime``, written and read."""

from __future__ import annotations

from datetime import UTC, datetime


def micro_time(now: datetime | None = None) -> str:
    """A ``MicroTime`` string (RFC 3339 with microseconds, UTC), as Lease times use."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(now: datetime | None = None) -> str:
    """A ``Time`` string (RFC 3339, seconds, UTC), as conditions, Events and creationTimestamp use."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An aware datetime from a ``Time`` or ``MicroTime`` string; None for none or an unreadable one."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
