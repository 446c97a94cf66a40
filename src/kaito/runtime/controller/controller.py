"""A controller: a work queue of Requests and N workers calling the reconciler (controller-runtime contract).

After each reconcile:

=============================  ===========================================  ==================
reconciler outcome             queue action                                 ``result`` label
=============================  ===========================================  ==================
raised an exception            ``add_rate_limited`` (per-key backoff)       ``error``
raised :class:`TerminalError`  nothing (not requeued, not forgotten)        ``error``
``Result(requeue_after=s)``    ``forget`` then ``add_after(s)``             ``requeue_after``
``Result(requeue=True)``       ``add_rate_limited``                         ``requeue``
``None`` / ``Result()``        ``forget``                                   ``success``
=============================  ===========================================  ==================

The queue guarantees a key is never reconciled by two workers at once; other keys proceed in parallel,
so one failing or slow key never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from kaito.runtime.controller.request import Request, Result, TerminalError
from kaito.runtime.metrics.registry import RuntimeMetrics
from kaito.runtime.workqueue.queue import ShutDown, WorkQueue

ReconcileFunc = Callable[[Request], Awaitable[Result | None]]


class Reconciler(Protocol):
    """An object with an ``async reconcile(request) -> Result | None`` method."""

    async def reconcile(self, request: Request) -> Result | None: ...


_log = structlog.get_logger("kaito.runtime.controller")


def as_reconcile_func(reconciler: Reconciler | ReconcileFunc) -> ReconcileFunc:
    method = getattr(reconciler, "reconcile", None)
    if method is not None and inspect.iscoroutinefunction(method):
        return method  # type: ignore[no-any-return]
    if callable(reconciler):
        return reconciler
    raise TypeError("reconciler must be an async callable or have an async reconcile() method")


class Controller:
    """Runs ``max_concurrent_reconciles`` workers over ``queue``.

    Usually built with :meth:`kaito.runtime.Manager.controller`; the manager starts it after the caches
    have synced (and after winning leader election, when enabled).
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler | ReconcileFunc,
        queue: WorkQueue[Request],
        *,
        max_concurrent_reconciles: int = 1,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.name = name
        self.reconcile_func = as_reconcile_func(reconciler)
        self.queue = queue
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.metrics = metrics
        self._workers: list[asyncio.Task[None]] = []
        self._active = 0
        self.reconciles = 0
        self.errors = 0
        if metrics is not None:
            metrics.init_controller(name, max_concurrent_reconciles)

    @property
    def active_workers(self) -> int:
        return self._active

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        """Spawns the workers (idempotent)."""
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"controller:{self.name}:{i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        _log.info("starting workers", controller=self.name, workers=self.max_concurrent_reconciles)

    def abort(self) -> None:
        """Stops reconciling right now: no new work, in-flight reconciles are cancelled. Call
        :meth:`stop` afterwards to await the workers."""
        self.queue.shutdown()
        for task in self._workers:
            task.cancel()

    async def stop(self, grace_seconds: float | None = 30.0) -> bool:
        """Stops taking work, lets in-flight reconciles finish for up to ``grace_seconds`` (0: cancel at
        once), then cancels and awaits every worker. Returns False if in-flight work had to be cancelled."""
        drained = True
        if grace_seconds == 0:
            self.queue.shutdown()
            drained = not self.queue.processing
        else:
            drained = await self.queue.shutdown_with_drain(grace_seconds)
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not drained:
            _log.warning("in-flight reconciles cancelled at shutdown", controller=self.name)
        return drained

    async def _worker(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._reconcile(request)
            finally:
                self.queue.done(request)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reconcile_total.labels(controller=self.name, result=result).inc()

    def _count_error(self, terminal: bool) -> None:
        self.errors += 1
        if self.metrics is not None:
            self.metrics.reconcile_errors_total.labels(controller=self.name).inc()
            if terminal:
                self.metrics.terminal_reconcile_errors_total.labels(controller=self.name).inc()
        self._count("error")

    async def _reconcile(self, request: Request) -> None:
        reconcile_id = uuid.uuid4().hex[:16]
        m = self.metrics
        with structlog.contextvars.bound_contextvars(
            controller=self.name, key=str(request), reconcile_id=reconcile_id
        ):
            self._active += 1
            if m is not None:
                m.active_workers.labels(controller=self.name).inc()
            start = time.monotonic()
            try:
                result = await self.reconcile_func(request)
            except asyncio.CancelledError:
                raise
            except TerminalError as exc:
                self._count_error(terminal=True)
                _log.error("reconcile failed with a terminal error; not requeued", error=str(exc))
            except Exception as exc:
                self._count_error(terminal=False)
                _log.exception("reconcile failed; requeued with backoff", error=str(exc))
                self.queue.add_rate_limited(request)
            else:
                if result is not None and result.requeue_after > 0:
                    self.queue.forget(request)
                    self.queue.add_after(request, result.requeue_after)
                    self._count("requeue_after")
                elif result is not None and result.requeue:
                    self.queue.add_rate_limited(request)
                    self._count("requeue")
                else:
                    self.queue.forget(request)
                    self._count("success")
            finally:
                self.reconciles += 1
                self._active -= 1
                if m is not None:
                    m.active_workers.labels(controller=self.name).dec()
                    m.reconcile_time_seconds.labels(controller=self.name).observe(time.monotonic() - start)
