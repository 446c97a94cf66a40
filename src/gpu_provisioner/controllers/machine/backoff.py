"""Per-Machine exponential backoff for retryable cloud failures.

The runtime's queue rate limiter would also back off, but an explicit delay lets us honour the
cloud's Retry-After and keeps each Machine's attempt count visible for logs.
"""

from __future__ import annotations


class KeyedBackoff:
    def __init__(self, base: float = 2.0, cap: float = 300.0) -> None:
        self._base = base
        self._cap = cap
        self._attempts: dict[str, int] = {}

    def next_delay(self, key: str, hint: float | None = None) -> float:
        attempt = self._attempts.get(key, 0)
        self._attempts[key] = attempt + 1
        delay = min(self._cap, self._base * float(2**attempt))
        if hint is not None:
            delay = min(self._cap, max(delay, hint))
        return delay

    def attempts(self, key: str) -> int:
        return self._attempts.get(key, 0)

    def reset(self, key: str) -> None:
        self._attempts.pop(key, None)
