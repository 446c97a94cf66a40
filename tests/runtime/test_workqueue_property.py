"""Property test: for any interleaving of adds and workers, no key is processed concurrently and
no add is lost, i.e. every add of key k at logical time t is followed by a processing of k that
*starts* after t.
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.runtime.workqueue import ShutDown, WorkQueue

Op = tuple[str, int, int]  # (operation, key, delay in ms)

ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add_after", "add_rate_limited", "sleep"]),
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=60,
)


async def _scenario(ops: list[Op], workers: int, seed: int) -> None:
    rng = random.Random(seed)
    q: WorkQueue[int] = WorkQueue("prop")
    active: set[int] = set()
    clock = 0
    last_add: dict[int, int] = {}
    last_start: dict[int, int] = {}
    violations: list[str] = []

    async def worker() -> None:
        nonlocal clock
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                violations.append(f"key {key} processed concurrently")
            active.add(key)
            clock += 1
            last_start[key] = clock
            try:
                for _ in range(rng.randint(0, 2)):
                    await asyncio.sleep(0)
                if rng.random() < 0.2:
                    await asyncio.sleep(0.001)
            finally:
                active.discard(key)
                q.done(key)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    for op, key, delay in ops:
        clock += 1
        if op == "add":
            q.add(key)
            last_add[key] = clock
        elif op == "add_after":
            q.add_after(key, delay / 1000)
        elif op == "add_rate_limited":
            q.add_rate_limited(key)
        else:
            await asyncio.sleep(delay / 1000)
        if rng.random() < 0.5:
            await asyncio.sleep(0)
    # Delayed adds count as adds once they fire; wait until nothing is pending, waiting or in flight.
    for _ in range(2000):
        if not len(q) and not q.waiting and not q.processing:
            break
        await asyncio.sleep(0.001)
    q.shutdown()
    await asyncio.gather(*tasks)
    assert not violations, violations
    for key, added in last_add.items():
        assert last_start.get(key, -1) > added, f"add of {key} at {added} was never processed"


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, workers=st.integers(min_value=1, max_value=6), seed=st.integers(0, 2**16))
def test_no_concurrent_processing_and_no_lost_adds(ops: list[Op], workers: int, seed: int) -> None:
    asyncio.run(_scenario(ops, workers, seed))
