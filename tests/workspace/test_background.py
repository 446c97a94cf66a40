"""Service applies in the background: one in flight per Service, failures reach the next reconcile."""

from __future__ import annotations

import asyncio

import pytest

from kaito.runtime.client import InvalidError
from kaito.runtime.controller import Request
from kaito.workspace import kinds
from kaito.workspace.background import BackgroundApplies

from .fixtures import node, workspace
from .test_reconciler import make


async def test_one_apply_per_object_and_the_newest_manifest_wins() -> None:
    applies = BackgroundApplies()
    requeued: list[Request] = []
    applies.requeue = requeued.append
    gate = asyncio.Event()
    ran: list[str] = []

    def apply(digest: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            ran.append(digest)
            await gate.wait()

        return run

    request = Request("ns", "ws")
    applies.submit("ns/ws", "v1", request, apply("v1"))
    await asyncio.sleep(0)
    applies.submit("ns/ws", "v2", request, apply("v2"))  # v1 still in flight: not started beside it
    await asyncio.sleep(0)
    assert ran == ["v1"] and applies.pending("ns/ws")
    gate.set()
    await applies.wait_idle()
    # v1 landed, v2 is wanted: the workspace comes back to apply it (never two at once, never v1 last).
    assert ran == ["v1"] and requeued == [request] and not applies.pending("ns/ws")
    applies.submit("ns/ws", "v2", request, apply("v2"))
    await applies.wait_idle()
    assert ran == ["v1", "v2"] and requeued == [request]


async def test_close_cancels_what_is_in_flight() -> None:
    applies = BackgroundApplies()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    applies.submit("ns/a", "v1", Request("ns", "a"), forever)
    await started.wait()
    runner = asyncio.create_task(applies.run())
    await asyncio.sleep(0)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert not applies.pending("ns/a")


async def test_a_rejected_service_shows_in_status_and_is_retried_on_the_next_pass() -> None:
    cache, client, rec, _ = make()
    requeued: list[Request] = []
    rec.services.requeue = requeued.append
    client.fail_create["Service"] = InvalidError(422, "Invalid", "spec.ports[0].port: Invalid value")
    cache.put(kinds.WORKSPACE, workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}))
    await rec.reconcile(Request("default", "ws1"))
    await rec.services.wait_idle()
    assert requeued == [Request("default", "ws1")], "a failed apply brings its workspace back"
    await rec.reconcile(Request("default", "ws1"))
    ws = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert ws is not None and ws["status"]["state"] == "Failed"
    inference = {c["type"]: c for c in ws["status"]["conditions"]}["InferenceReady"]
    assert "spec.ports[0].port" in inference["message"]
    # Fixed (here: the apiserver accepts it now): the next pass applies again and the error clears.
    del client.fail_create["Service"]
    await rec.reconcile(Request("default", "ws1"))
    await rec.services.wait_idle()
    assert cache.get(kinds.SERVICE, "default", "ws1") is not None
