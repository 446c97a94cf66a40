"""A reservation-style token bucket, the same model as golang.org/x/time/rate used by client-go."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``qps`` events per second on average with bursts of up to ``burst``.

    ``reserve()`` always succeeds and returns how long the caller must wait before acting, so
    waiting callers are served in reservation order (tokens may go negative, exactly like
    ``rate.Limiter.Reserve``). A ``qps`` of zero or less means "unlimited".
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 and qps > 0:
            raise ValueError("burst must be at least 1 when qps is limited")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)

    def reserve(self) -> float:
        """Takes one token and returns the delay in seconds before it may be used (0 if available now)."""
        if self.unlimited:
            return 0.0
        self._advance(self._clock())
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def tokens(self) -> float:
        """Tokens available right now (negative while callers are queued on reservations)."""
        if self.unlimited:
            return float("inf")
        self._advance(self._clock())
        return self._tokens

    async def wait(self) -> None:
        """Takes one token, sleeping until it is due."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
