"""Kubernetes timestamp formats."""

from __future__ import annotations

from datetime import UTC, datetime


def micro_time(now: datetime | None = None) -> str:
    """A ``MicroTime`` string (RFC 3339 with microseconds, UTC), as Lease times use."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(now: datetime | None = None) -> str:
    """A ``Time`` string (RFC 3339, seconds, UTC), as Event timestamps use."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
