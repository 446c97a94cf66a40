"""Work queue semantics: de-duplication, no concurrent processing of a key, delays, shutdown, metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest

from kaito.runtime.metrics import RuntimeMetrics
from kaito.runtime.workqueue import ItemExponentialFailureRateLimiter, ShutDown, WorkQueue


async def test_adds_collapse() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_add_while_processing_is_processed_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    item = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0, "a key being processed must not be handed out again"
    q.done(item)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_add() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_cancelled_getter_passes_wakeup_on() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("x")
    g1.cancel()
    results = await asyncio.gather(g1, g2, return_exceptions=True)
    assert "x" in results


async def test_add_after_keeps_earliest_and_fires() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add_after("a", 5.0)
    q.add_after("a", 0.02)
    q.add_after("a", 10.0)
    assert q.waiting == 1
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert q.waiting == 0


async def test_add_after_non_positive_is_immediate() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add_after("a", 0)
    q.add_after("b", -1)
    assert len(q) == 2


async def test_rate_limited_and_forget() -> None:
    q: WorkQueue[str] = WorkQueue("t", rate_limiter=ItemExponentialFailureRateLimiter(0.01, 1.0))
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 2
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_stops_getters_and_adds() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add_after("later", 100)
    q.shutdown()
    with pytest.raises(ShutDown):
        await getter
    q.add("x")
    assert len(q) == 0
    assert q.waiting == 0
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    q.add("b")
    item = await q.get()
    drained = asyncio.create_task(q.shutdown_with_drain(5))
    await asyncio.sleep(0.01)
    assert not drained.done()
    with pytest.raises(ShutDown):
        await q.get()  # "b" is still queued but no new work is handed out
    q.done(item)
    assert await drained is True


async def test_shutdown_with_drain_times_out() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    await q.get()
    assert await q.shutdown_with_drain(0.01) is False


async def test_metrics_are_reported() -> None:
    m = RuntimeMetrics(process_collector=False)
    q: WorkQueue[str] = WorkQueue("ctl", metrics=m)
    q.add("a")
    q.add("a")
    q.add_after("b", 0)
    item = await q.get()
    await asyncio.sleep(0.01)
    text = generate_latest(m.registry).decode()
    assert 'workqueue_depth{controller="ctl",name="ctl",priority=""} 1.0' in text
    assert 'workqueue_adds_total{controller="ctl",name="ctl"} 2.0' in text
    assert 'workqueue_retries_total{controller="ctl",name="ctl"} 1.0' in text
    unfinished = m.workqueue_unfinished_work_seconds.labels(name="ctl", controller="ctl")
    assert q.unfinished_work_seconds() >= 0.01
    assert q.longest_running_processor_seconds() >= 0.01
    assert unfinished is not None
    q.done(item)
    assert q.longest_running_processor_seconds() == 0.0
    assert (
        'workqueue_queue_duration_seconds_count{controller="ctl",name="ctl"} 1.0'
        in generate_latest(m.registry).decode()
    )
