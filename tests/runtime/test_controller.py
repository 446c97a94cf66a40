"""Controller worker semantics, builder validation, handlers and predicates, without a cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.runtime import Request, Result, RuntimeMetrics, TerminalError, WorkQueue, kinds, predicates
from kaito.runtime.controller import Controller, EnqueueHandler, owner_mapper
from kaito.runtime.workqueue import ItemExponentialFailureRateLimiter


def obj(name: str, ns: str = "ns", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, **meta}}


async def eventually(cond: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def make(reconcile: Any, workers: int = 2) -> tuple[Controller, WorkQueue[Request], RuntimeMetrics]:
    m = RuntimeMetrics(process_collector=False)
    q: WorkQueue[Request] = WorkQueue("c", ItemExponentialFailureRateLimiter(0.001, 0.05), metrics=m)
    return Controller("c", reconcile, q, max_concurrent_reconciles=workers, metrics=m), q, m


def sample(m: RuntimeMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, {"controller": "c", **labels}) or 0.0


async def test_results_map_to_queue_actions_and_metrics() -> None:
    calls: dict[str, int] = {}

    async def reconcile(req: Request) -> Result | None:
        calls[req.name] = calls.get(req.name, 0) + 1
        n = calls[req.name]
        if req.name == "err" and n < 3:
            raise ValueError("transient")
        if req.name == "terminal":
            raise TerminalError("never retried")
        if req.name == "requeue" and n < 2:
            return Result(requeue=True)
        if req.name == "after" and n < 2:
            return Result(requeue_after=0.05)
        return None

    ctrl, q, m = make(reconcile)
    ctrl.start()
    for name in ("ok", "err", "terminal", "requeue", "after"):
        q.add(Request("ns", name))
    await eventually(lambda: calls.get("err") == 3 and calls.get("requeue") == 2 and calls.get("after") == 2)
    await asyncio.sleep(0.1)
    assert calls == {"ok": 1, "err": 3, "terminal": 1, "requeue": 2, "after": 2}
    assert sample(m, "controller_runtime_reconcile_total", result="success") == 4
    assert sample(m, "controller_runtime_reconcile_total", result="error") == 3
    assert sample(m, "controller_runtime_reconcile_total", result="requeue") == 1
    assert sample(m, "controller_runtime_reconcile_total", result="requeue_after") == 1
    assert sample(m, "controller_runtime_reconcile_errors_total") == 3
    assert sample(m, "controller_runtime_terminal_reconcile_errors_total") == 1
    assert sample(m, "controller_runtime_max_concurrent_reconciles") == 2
    assert sample(m, "controller_runtime_reconcile_time_seconds_count") == 9
    assert q.num_requeues(Request("ns", "err")) == 0, "success forgets the backoff"
    assert await ctrl.stop(1.0)


async def test_one_slow_key_does_not_block_others_and_keys_never_overlap() -> None:
    active: set[str] = set()
    overlaps: list[str] = []
    done: list[str] = []
    release = asyncio.Event()

    async def reconcile(req: Request) -> None:
        if req.name in active:
            overlaps.append(req.name)
        active.add(req.name)
        try:
            if req.name == "slow":
                await release.wait()
            else:
                await asyncio.sleep(0.001)
            done.append(req.name)
        finally:
            active.discard(req.name)

    ctrl, q, m = make(reconcile, workers=3)
    ctrl.start()
    q.add(Request("ns", "slow"))
    await eventually(lambda: "slow" in active)
    for i in range(50):
        q.add(Request("ns", f"k{i % 10}"))
        q.add(Request("ns", "slow"))  # re-added while processing: runs once more afterwards
        await asyncio.sleep(0)
    await eventually(lambda: all(f"k{i}" in done for i in range(10)))
    await eventually(lambda: sample(m, "controller_runtime_active_workers") == 1)
    release.set()
    await eventually(lambda: done.count("slow") == 2)
    assert overlaps == []
    await ctrl.stop(1.0)


async def test_stop_drains_in_flight_then_cancels_after_grace() -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def reconcile(req: Request) -> None:
        started.set()
        await asyncio.sleep(0.2 if req.name == "short" else 30)
        finished.append(req.name)

    ctrl, q, _ = make(reconcile, workers=1)
    ctrl.start()
    q.add(Request("ns", "short"))
    await started.wait()
    q.add(Request("ns", "queued"))
    assert await ctrl.stop(5.0) is True
    assert finished == ["short"], "in-flight finished, queued work not started"

    started.clear()
    ctrl2, q2, _ = make(reconcile, workers=1)
    ctrl2.start()
    q2.add(Request("ns", "long"))
    await started.wait()
    assert await ctrl2.stop(0.05) is False
    assert ctrl2.active_workers == 0


async def test_reconciler_object_with_method() -> None:
    class R:
        def __init__(self) -> None:
            self.seen: list[Request] = []

        async def reconcile(self, request: Request) -> Result | None:
            self.seen.append(request)
            return None

    r = R()
    ctrl, q, _ = make(r)
    ctrl.start()
    q.add(Request("", "cluster-scoped"))
    await eventually(lambda: r.seen == [Request("", "cluster-scoped")])
    await ctrl.stop()
    with pytest.raises(TypeError):
        make(object())


def test_owner_mapper_matches_group_kind_and_controller_flag() -> None:
    owned = obj(
        "child",
        ownerReferences=[
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "not-controller", "uid": "1"},
            {"apiVersion": "apps/v2", "kind": "Deployment", "name": "owner", "uid": "2", "controller": True},
            {"apiVersion": "v1", "kind": "Deployment", "name": "wrong-group", "uid": "3", "controller": True},
        ],
    )
    assert owner_mapper(kinds.DEPLOYMENT)(owned) == [Request("ns", "owner")]
    assert owner_mapper(kinds.DEPLOYMENT, controller_only=False)(owned) == [
        Request("ns", "not-controller"),
        Request("ns", "owner"),
    ]
    node_owned = obj(
        "x", ownerReferences=[{"apiVersion": "v1", "kind": "Node", "name": "n1", "controller": True}]
    )
    assert owner_mapper(kinds.NODE)(node_owned) == [Request("", "n1")]


async def test_enqueue_handler_applies_predicates_and_dedups_update() -> None:
    q: WorkQueue[Request] = WorkQueue("h")
    h = EnqueueHandler(q, lambda o: [Request.for_object(o)], [predicates.generation_changed()])
    old = obj("a", generation=1, resourceVersion="1")
    h.on_update(old, obj("a", generation=1, resourceVersion="2"))
    assert len(q) == 0
    h.on_update(old, obj("a", generation=2, resourceVersion="3"))
    assert len(q) == 1
    h.on_add(obj("b"), True)
    h.on_delete(obj("c"))
    assert len(q) == 3

    seen: list[dict[str, Any]] = []

    def mapper(o: dict[str, Any]) -> list[Request]:
        seen.append(o)
        return [Request("ns", "shared")]

    q2: WorkQueue[Request] = WorkQueue("h2")
    EnqueueHandler(q2, mapper).on_update(obj("x"), obj("y"))
    assert len(seen) == 2 and len(q2) == 1


def test_predicates() -> None:
    a = obj("a", generation=1, resourceVersion="1", labels={"app": "x"}, annotations={"k": "v"})
    b = obj("a", generation=1, resourceVersion="2", labels={"app": "y"}, annotations={"k": "v"})
    assert not predicates.generation_changed().update(a, b)
    assert predicates.generation_changed().create(a)
    assert predicates.resource_version_changed().update(a, b)
    assert not predicates.resource_version_changed().update(a, a)
    assert predicates.labels_changed().update(a, b)
    assert not predicates.annotations_changed().update(a, b)
    sel = predicates.label_selector("app=x")
    assert sel.create(a) and not sel.create(b) and sel.update(a, b)
    both = predicates.labels_changed() & predicates.annotations_changed()
    assert not both.update(a, b)
    either = predicates.labels_changed() | predicates.annotations_changed()
    assert either.update(a, b)
    assert (~predicates.labels_changed()).update(a, a)
    only_deletes = predicates.custom(create=lambda o: False)
    assert not only_deletes.create(a) and only_deletes.delete(a)


def test_request_and_result() -> None:
    assert str(Request("ns", "n")) == "ns/n"
    assert str(Request("", "n")) == "n"
    assert Request.for_object({"metadata": {"name": "x"}}) == Request("", "x")
    assert Result() == Result(requeue=False, requeue_after=0.0)
