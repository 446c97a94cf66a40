"""Per-item and overall rate limiters for requeues (client-go ``util/workqueue/default_rate_limiters.go``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol

from kaito.runtime.flowcontrol.tokenbucket import TokenBucket


class RateLimiter(Protocol):
    """Decides how long an item waits before it is retried."""

    def when(self, item: Hashable) -> float:
        """Records one more failure of ``item`` and returns the delay in seconds before its retry."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stops tracking ``item`` (it succeeded); its backoff starts over."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` has been requeued since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` per item, capped at ``max_delay`` (defaults 5 ms and 1000 s)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        # Past 2**62 the float would overflow long after the cap is reached; stop growing.
        if exp > 62:
            return self.max_delay
        return min(self.max_delay, self.base_delay * float(2**exp))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """One token bucket shared by all items (defaults 10 qps, burst 100); ``forget`` returns no token."""

    def __init__(
        self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bucket = TokenBucket(qps, burst, clock=clock)

    def when(self, item: Hashable) -> float:
        return self._bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of all its limiters; requeue counts are the highest any of them reports."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must see the failure (each keeps its own state), so no short-circuit.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> MaxOfRateLimiter:
    """controller-runtime's classic default: max(per-item 5 ms..1000 s, overall 10 qps / burst 100)."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))
