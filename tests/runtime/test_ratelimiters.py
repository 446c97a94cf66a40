"""Rate limiters and the token bucket, with an injected clock."""

from __future__ import annotations

import pytest

from kaito.runtime.flowcontrol import Backoff, TokenBucket
from kaito.runtime.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exponential_doubles_and_caps() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [rl.when("a") for _ in range(22)]
    assert delays[0] == pytest.approx(0.005)
    assert delays[1] == pytest.approx(0.01)
    assert delays[10] == pytest.approx(0.005 * 1024)
    # 0.005 * 2**18 = 1310.72 > 1000: the 19th failure is the first capped one.
    assert delays[17] < 1000.0
    assert delays[18] == 1000.0
    assert delays[21] == 1000.0
    assert rl.num_requeues("a") == 22
    assert rl.when("b") == pytest.approx(0.005)
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.005)


def test_exponential_never_overflows() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(2000):
        assert rl.when("x") <= 1000.0


def test_bucket_burst_then_qps() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(10.0, 100, clock=clock)
    assert all(rl.when(i) == 0.0 for i in range(100))
    assert rl.when("late") == pytest.approx(0.1)
    assert rl.when("later") == pytest.approx(0.2)
    clock.now += 1.0
    # 10 tokens refilled, 2 were reserved: -2 + 10 - 1 = 7 tokens left, so no wait.
    assert rl.when("x") == 0.0
    rl.forget("x")  # gives no token back


def test_max_of_uses_the_longest_and_forgets_everywhere() -> None:
    clock = FakeClock()
    rl = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 1, clock=clock)
    )
    assert rl.when("a") == pytest.approx(0.005)
    assert rl.when("a") == pytest.approx(0.1)  # bucket empty: 0.1 s beats 0.01 s
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0


def test_default_controller_rate_limiter_shape() -> None:
    rl = default_controller_rate_limiter()
    assert rl.when("k") == pytest.approx(0.005)
    assert rl.when("k") == pytest.approx(0.01)


def test_token_bucket_unlimited_and_validation() -> None:
    tb = TokenBucket(0, 0)
    assert tb.unlimited
    assert all(tb.reserve() == 0.0 for _ in range(1000))
    with pytest.raises(ValueError):
        TokenBucket(5, 0)


def test_token_bucket_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    tb = TokenBucket(20, 30, clock=clock)
    for _ in range(30):
        assert tb.reserve() == 0.0
    clock.now += 100.0
    assert tb.tokens() == pytest.approx(30.0)


async def test_token_bucket_wait_sleeps() -> None:
    tb = TokenBucket(100, 1)
    await tb.wait()
    import time

    start = time.monotonic()
    await tb.wait()
    assert time.monotonic() - start >= 0.005


def test_backoff_grows_caps_and_resets() -> None:
    clock = FakeClock()
    b = Backoff(initial=1.0, factor=2.0, cap=8.0, jitter=0.0, reset_after=60.0, clock=clock)
    assert [b.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    clock.now += 61.0
    assert b.next() == 1.0
    b.reset()
    assert b.next() == 1.0
    jittered = Backoff(initial=1.0, jitter=1.0)
    assert 1.0 <= jittered.next() < 2.0
