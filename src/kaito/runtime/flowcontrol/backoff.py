"""Jittered exponential backoff with a cap and a reset after a quiet period (as client-go's reflector)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays of ``initial * factor**n`` seconds, capped at ``cap``, each stretched by up to ``jitter``.

    With the defaults (0.8 s, x2, cap 30 s, jitter 1.0) a delay ``d`` is drawn from ``[d, 2d)``, as the
    client-go reflector does. The sequence starts over once ``reset_after`` seconds pass without a call.
    """

    def __init__(
        self,
        initial: float = 0.8,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._current = initial
        self._last_call: float | None = None

    def next(self) -> float:
        """Returns the next delay in seconds."""
        now = self._clock()
        if self._last_call is not None and now - self._last_call > self.reset_after:
            self._current = self.initial
        self._last_call = now
        delay = self._current
        self._current = min(self.cap, self._current * self.factor)
        return delay + delay * self.jitter * random.random()

    def reset(self) -> None:
        """Starts the sequence over (after a success)."""
        self._current = self.initial
        self._last_call = None
