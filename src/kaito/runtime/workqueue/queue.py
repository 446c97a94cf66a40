"""The work queue: de-duplicating, never handing one item to two workers, with delays and rate limits.

Semantics (client-go ``util/workqueue``):

* ``add`` of an item that is already waiting to be processed does nothing (adds collapse);
* an item is handed to at most one worker at a time: adding it while it is being processed marks it
  dirty, and ``done`` puts it back so it is processed once more afterwards;
* ``add_after`` keeps the earliest pending ready time of an item;
* ``add_rate_limited`` is ``add_after(item, rate_limiter.when(item))``; ``forget`` resets the item's backoff.

One deliberate difference: after ``shutdown()`` the queue hands out no more items (``get`` raises
:class:`ShutDown` at once, even if items are still queued), so a stopping controller takes no new work
while ``shutdown_with_drain`` waits for the in-flight items to be marked done.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from kaito.runtime.metrics.registry import QueueMetrics, RuntimeMetrics
from kaito.runtime.workqueue.ratelimiters import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shutting down."""


class WorkQueue(Generic[T]):
    """An asyncio work queue. All methods except :meth:`get` and :meth:`shutdown_with_drain` are synchronous
    and non-blocking, so event handlers can call ``add`` directly.

    Args:
        name: the queue's name (metric label ``name`` and ``controller``).
        rate_limiter: used by ``add_rate_limited``; defaults to :func:`default_controller_rate_limiter`.
        metrics: when given, the queue reports the ``workqueue_*`` families under ``name``.
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        name: str = "",
        rate_limiter: RateLimiter | None = None,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        self._clock = clock
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: dict[T, float] = {}
        self._added_at: dict[T, float] = {}
        self._waiting: dict[T, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        self._metrics: QueueMetrics | None = (
            metrics.queue(name, self.unfinished_work_seconds, self.longest_running_processor_seconds)
            if metrics is not None
            else None
        )

    # -- introspection -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Items ready to be handed out (not counting those being processed or waiting on a delay)."""
        return len(self._queue)

    @property
    def processing(self) -> frozenset[T]:
        """Items currently handed to a worker and not yet ``done``."""
        return frozenset(self._processing)

    @property
    def waiting(self) -> int:
        """Items waiting on an ``add_after`` delay."""
        return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        now = self._clock()
        return sum(now - start for start in self._processing.values())

    def longest_running_processor_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return self._clock() - min(self._processing.values())

    # -- adding ----------------------------------------------------------------------------------------

    def add(self, item: T) -> None:
        """Marks ``item`` as needing processing. No-op if it is already pending or the queue is shut down."""
        if self._shutting_down or item in self._dirty:
            return
        if self._metrics is not None:
            self._metrics.adds.inc()
        self._dirty.add(item)
        self._added_at[item] = self._clock()
        if item in self._processing:
            # Re-queued by done() so the same item never runs twice at once.
            return
        self._push(item)

    def add_after(self, item: T, delay: float) -> None:
        """Adds ``item`` after ``delay`` seconds; an item already waiting keeps the earlier ready time."""
        if self._shutting_down:
            return
        if self._metrics is not None:
            self._metrics.retries.inc()
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        existing = self._waiting.get(item)
        if existing is not None:
            if existing[0] <= ready_at:
                return
            existing[1].cancel()
        handle = loop.call_at(ready_at, self._fire, item)
        self._waiting[item] = (ready_at, handle)

    def add_rate_limited(self, item: T) -> None:
        """Adds ``item`` after the delay the rate limiter assigns to it."""
        if self._shutting_down:
            return
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Resets ``item``'s rate-limit backoff (call after a successful processing)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    def _fire(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    def _push(self, item: T) -> None:
        self._queue.append(item)
        if self._metrics is not None:
            self._metrics.depth.inc()
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    # -- processing ----------------------------------------------------------------------------------

    async def get(self) -> T:
        """Waits for the next item and marks it as being processed. Raises :class:`ShutDown` once the
        queue is shutting down. Every item returned must be passed to :meth:`done`."""
        while not self._queue or self._shutting_down:
            if self._shutting_down:
                raise ShutDown()
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter.done() and not getter.cancelled():
                    # We were woken for an item we will not take: pass the wake-up on.
                    self._wake_one()
                else:
                    getter.cancel()
                raise
        item = self._queue.popleft()
        now = self._clock()
        if self._metrics is not None:
            self._metrics.depth.dec()
            added = self._added_at.get(item)
            if added is not None:
                self._metrics.queue_duration.observe(now - added)
        self._added_at.pop(item, None)
        self._processing[item] = now
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """Marks ``item`` as processed; if it was added meanwhile it goes back on the queue."""
        start = self._processing.pop(item, None)
        if start is not None and self._metrics is not None:
            self._metrics.work_duration.observe(self._clock() - start)
        if item in self._dirty and not self._shutting_down:
            self._push(item)
        if not self._processing and self._drained is not None:
            self._drained.set()

    # -- shutdown ------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stops accepting adds and handing out items; delayed items are dropped; waiting getters raise."""
        if self._shutting_down:
            return
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    async def shutdown_with_drain(self, grace_seconds: float | None = None) -> bool:
        """Shuts down, then waits until every item handed out has been marked done.

        Returns False if ``grace_seconds`` passed first (the caller should then cancel its workers)."""
        self.shutdown()
        if not self._processing:
            return True
        if self._drained is None:
            self._drained = asyncio.Event()
        try:
            await asyncio.wait_for(self._drained.wait(), grace_seconds)
        except TimeoutError:
            return False
        return True
