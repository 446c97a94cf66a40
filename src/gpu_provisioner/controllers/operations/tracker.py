"""Run cloud calls that may take minutes (create waits for the pool, delete for its removal) outside
the reconcile workers.

A reconcile starts the operation and returns with a requeue; a later reconcile collects the
outcome. Each operation is bounded by a timeout, so a hung cloud call surfaces as a retryable
error instead of pinning a worker. At most one operation per (key, verb) runs at a time, which is
what keeps a requeue storm from issuing a second create for the same Machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# The verbs the controllers track cloud calls under; each (key, verb) runs at most once at a time.
CREATE = "create"
DELETE = "delete"
# Garbage collection deleting an orphan instance: a launch must wait for it to finish.
GC_DELETE = "gc-delete"


@dataclass(frozen=True, slots=True)
class Pending:
    """Still running; started at ``started`` (loop time)."""

    started: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """Finished: exactly one of ``value`` / ``error`` is meaningful."""

    value: Any = None
    error: BaseException | None = None


class OperationTracker:
    """Args:
    timeout: seconds an operation may run before it is cancelled and reported as TimeoutError.
    on_done: called with the key when an operation finishes, to enqueue its Machine at once.
    """

    def __init__(self, timeout: float, on_done: Callable[[str], None] | None = None) -> None:
        self._timeout = timeout
        self._on_done = on_done
        self._tasks: dict[tuple[str, str], tuple[asyncio.Task[Any], float]] = {}

    def set_on_done(self, on_done: Callable[[str], None] | None) -> None:
        self._on_done = on_done

    def running(self, key: str, verb: str) -> bool:
        entry = self._tasks.get((key, verb))
        return entry is not None and not entry[0].done()

    def start(self, key: str, verb: str, factory: Callable[[], Awaitable[Any]]) -> Pending:
        """Starts the operation unless one is already tracked (running or finished, not yet collected)."""
        entry = self._tasks.get((key, verb))
        if entry is not None:
            return Pending(entry[1])
        started = asyncio.get_running_loop().time()
        task = asyncio.create_task(self._run(key, verb, factory), name=f"{verb}:{key}")
        self._tasks[(key, verb)] = (task, started)
        return Pending(started)

    async def _run(self, key: str, verb: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await factory()
        finally:
            log.debug("cloud operation finished", key=key, verb=verb)
            if self._on_done is not None:
                try:
                    self._on_done(key)
                except Exception:  # an enqueue failure must not lose the outcome
                    log.exception("on_done callback failed", key=key, verb=verb)

    def poll(self, key: str, verb: str) -> Pending | Outcome | None:
        """None when nothing is tracked; Pending while running; the Outcome once (it is then forgotten)."""
        entry = self._tasks.get((key, verb))
        if entry is None:
            return None
        task, started = entry
        if not task.done():
            return Pending(started)
        del self._tasks[(key, verb)]
        if task.cancelled():
            return Outcome(error=asyncio.CancelledError())
        exc = task.exception()
        if exc is not None:
            return Outcome(error=exc)
        return Outcome(value=task.result())

    def cancel(self, key: str, verb: str) -> None:
        entry = self._tasks.pop((key, verb), None)
        if entry is not None and not entry[0].done():
            entry[0].cancel()

    def keys(self, verb: str) -> list[str]:
        return [k for (k, v) in self._tasks if v == verb]

    async def close(self) -> None:
        tasks = [t for t, _ in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
