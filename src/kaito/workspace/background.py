"""Writes a reconcile starts and does not wait for: Service applies.

A Service's ClusterIP is allocated one at a time by the apiserver; in a burst of 200 workspaces each
Service apply waited 1-3 s in that queue, and a worker waiting on it was a worker not reconciling anything
else. So the reconcile applies the workload itself, hands the Service here and moves on; the Service's
watch event brings the workspace back, and only a Service the cache shows lets it be Ready.

At most one apply per Service is in flight, so an older manifest can never land after a newer one; a
failed apply is handed to the next reconcile of its workspace, which raises it as if it had applied
inline (an invalid manifest shows in status, anything else is retried with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from kaito.runtime.controller import Request

_log = structlog.get_logger("kaito.workspace.background")


class BackgroundApplies:
    """In-flight applies keyed by object (``namespace/name``), each for one manifest hash."""

    def __init__(self, max_in_flight: int = 16) -> None:
        # Bounded so that slow applies cannot take every pooled connection from the reconcilers.
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._wanted: dict[str, str] = {}
        self._failed: dict[str, tuple[str, Exception]] = {}
        # Called with the workspace to reconcile again: after a failure, or when a newer manifest waits.
        self.requeue: Callable[[Request], None] = lambda _request: None

    def pending(self, key: str) -> bool:
        return key in self._in_flight

    def take_failure(self, key: str, digest: str) -> Exception | None:
        """The error of the last apply of ``key`` if it was for ``digest`` (and forgets it)."""
        failed = self._failed.pop(key, None)
        if failed is not None and failed[0] == digest:
            return failed[1]
        return None

    def submit(self, key: str, digest: str, request: Request, apply: Callable[[], Awaitable[Any]]) -> None:
        """Starts ``apply`` unless one for ``key`` is in flight (then the newest ``digest`` is remembered
        and ``request`` is requeued when the running one ends)."""
        self._wanted[key] = digest
        if key in self._in_flight:
            return
        task = asyncio.create_task(self._run(key, digest, request, apply), name=f"apply:{key}")
        self._in_flight[key] = (digest, task)

    async def _run(
        self, key: str, digest: str, request: Request, apply: Callable[[], Awaitable[Any]]
    ) -> None:
        failed = False
        try:
            async with self._slots:
                await apply()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed = True
            self._failed[key] = (digest, exc)
            _log.debug("background apply failed", key=key, error=str(exc))
        finally:
            self._in_flight.pop(key, None)
        newer = self._wanted.get(key) != digest
        if not newer:
            self._wanted.pop(key, None)
        if failed or newer:
            self.requeue(request)

    async def wait_idle(self) -> None:
        """Until nothing is in flight (tests)."""
        while self._in_flight:
            await asyncio.gather(
                *(task for _, task in list(self._in_flight.values())), return_exceptions=True
            )

    async def close(self) -> None:
        """Cancels and awaits every apply in flight: a replica that stops leading must stop writing."""
        tasks = [task for _, task in self._in_flight.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._in_flight.clear()
        self._wanted.clear()
        self._failed.clear()

    async def run(self) -> None:
        """A manager runnable: lives while this replica leads, and takes its applies with it."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()
