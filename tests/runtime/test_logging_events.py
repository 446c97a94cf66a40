"""Reconcile log lines carry controller/key/reconcile_id; event aggregation."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from structlog.testing import capture_logs

from kaito.runtime import (
    EventRecorder,
    NotFoundError,
    Request,
    WorkQueue,
    kinds,
)
from kaito.runtime.controller import Controller


async def test_every_reconcile_line_has_controller_key_and_id() -> None:
    user_log = structlog.get_logger("user")

    async def reconcile(req: Request) -> None:
        user_log.info("working", step=1)
        if req.name == "bad":
            raise RuntimeError("boom")

    q: WorkQueue[Request] = WorkQueue("logs")
    ctrl = Controller("logs", reconcile, q)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        ctrl.start()
        q.add(Request("ns", "good"))
        q.add(Request("ns", "bad"))
        for _ in range(200):
            if sum(1 for e in logs if e["event"] == "working") >= 2 and any(
                e["log_level"] == "error" for e in logs
            ):
                break
            await asyncio.sleep(0.01)
        await ctrl.stop(1)
    lines = [e for e in logs if e["event"] in ("working",) or e["log_level"] == "error"]
    assert len(lines) >= 3
    for e in lines:
        assert e["controller"] == "logs"
        assert e["key"] in ("ns/good", "ns/bad")
        assert len(e["reconcile_id"]) == 16
    error = next(e for e in lines if e["log_level"] == "error")
    assert error["key"] == "ns/bad" and error["error"] == "boom"
    ids = {e["reconcile_id"] for e in lines if e["event"] == "working"}
    assert len(ids) >= 2, "each reconcile gets its own id"


class FakeEventsClient:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.fail_patch = False

    async def create(self, kind: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        return body

    async def patch(self, kind: Any, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        if self.fail_patch:
            raise NotFoundError(404, "NotFound")
        self.patched.append((name, patch))
        return patch


async def test_event_recorder_aggregates_repeats() -> None:
    fake = FakeEventsClient()
    rec = EventRecorder(fake, "comp", host="h")  # type: ignore[arg-type]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "uid": "u"}}
    for _ in range(3):
        rec.event(pod, "Warning", "Failed", "it broke")
    rec.event(pod, "Normal", "Started", "ok")
    await rec.flush()
    assert len(fake.created) == 2
    first = fake.created[0]
    assert first["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": "ns",
        "name": "p",
        "uid": "u",
    }
    assert (
        first["type"] == "Warning" and first["reason"] == "Failed" and first["source"]["component"] == "comp"
    )
    assert [p["count"] for _, p in fake.patched] == [2, 3]
    # The aggregated Event was deleted meanwhile: a new one is created.
    fake.fail_patch = True
    rec.event(pod, "Warning", "Failed", "it broke")
    await rec.flush()
    assert len(fake.created) == 3
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "uid": "nu"}}
    rec.event(node, "Normal", "Ready", "node ready")
    await rec.flush()
    assert fake.created[-1]["metadata"]["namespace"] == "default"
    await rec.close()
    assert rec.written == 6
    assert kinds.EVENT.plural == "events"
