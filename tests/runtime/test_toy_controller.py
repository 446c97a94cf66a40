"""A toy controller (For ConfigMap, Owns Secret) converges; metrics and probes report live values."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kaito.runtime import (
    Client,
    Manager,
    ManagerOptions,
    Request,
    Result,
    kinds,
    owner_reference,
    predicates,
)

pytestmark = pytest.mark.cluster


def make_manager(cluster: Any, namespace: str, **kw: Any) -> Manager:
    opts = ManagerOptions(
        kubeconfig=cluster.kubeconfig,
        metrics_bind_address="127.0.0.1:0",
        health_probe_bind_address="127.0.0.1:0",
        handle_signals=False,
        field_manager="toy-controller",
        **kw,
    )
    mgr = Manager(opts)
    mgr.cache.options.namespace = namespace
    return mgr


@contextlib.asynccontextmanager
async def running(mgr: Manager) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(mgr.run())
    try:
        yield task
    finally:
        mgr.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


async def wait_until(predicate: Any, within: float = 30.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def toy_controller(mgr: Manager, log: list[str]) -> None:
    """ConfigMap ``x`` → Secret ``x`` with the same data, owned by the ConfigMap."""

    async def reconcile(req: Request) -> Result | None:
        log.append(str(req))
        cm = mgr.cache.get(kinds.CONFIGMAP, req.namespace, req.name)
        if cm is None:
            return None
        data = {k: base64.b64encode(v.encode()).decode() for k, v in (cm.get("data") or {}).items()}
        secret = mgr.cache.get(kinds.SECRET, req.namespace, req.name)
        if secret is not None and (secret.get("data") or {}) == data:
            return None
        await mgr.client.apply(
            kinds.SECRET,
            {
                "metadata": {
                    "name": req.name,
                    "namespace": req.namespace,
                    "ownerReferences": [owner_reference(kinds.CONFIGMAP, cm)],
                },
                "data": data,
            },
        )
        mgr.event_recorder("toy").event(cm, "Normal", "Synced", "secret written")
        return None

    (
        mgr.controller("toy")
        .for_(kinds.CONFIGMAP, predicates.resource_version_changed())
        .owns(kinds.SECRET)
        .max_concurrent_reconciles(4)
        .complete(reconcile)
    )


async def converged(client: Client, namespace: str) -> bool:
    cms = {o["metadata"]["name"]: o for o in (await client.list(kinds.CONFIGMAP, namespace))["items"]}
    cms.pop("kube-root-ca.crt", None)
    secrets = {
        o["metadata"]["name"]: o
        for o in (await client.list(kinds.SECRET, namespace))["items"]
        if o.get("type") == "Opaque"
    }
    secrets.pop("kube-root-ca.crt", None)
    if set(cms) != set(secrets):
        return False
    for name, cm in cms.items():
        want = {k: base64.b64encode(v.encode()).decode() for k, v in (cm.get("data") or {}).items()}
        if (secrets[name].get("data") or {}) != want:
            return False
        refs = secrets[name]["metadata"].get("ownerReferences") or []
        if not refs or refs[0]["uid"] != cm["metadata"]["uid"]:
            return False
    return True


async def test_toy_controller_converges(cluster: Any, rt_client: Client, namespace: str) -> None:
    mgr = make_manager(cluster, namespace)
    log: list[str] = []
    toy_controller(mgr, log)
    async with running(mgr):
        for i in range(20):
            await rt_client.create(
                kinds.CONFIGMAP,
                {"metadata": {"name": f"cm-{i}", "namespace": namespace}, "data": {"i": str(i)}},
            )
        await wait_until(lambda: converged(rt_client, namespace), what="secrets created")
        # Update the owner: its secret follows.
        await rt_client.patch(kinds.CONFIGMAP, namespace, "cm-3", {"data": {"i": "changed"}})
        # Tamper with an owned secret: Owns() enqueues the owner, which repairs it.
        await rt_client.patch(
            kinds.SECRET, namespace, "cm-5", {"data": {"i": base64.b64encode(b"bad").decode()}}
        )
        # Delete an owned secret: recreated.
        await rt_client.delete(kinds.SECRET, namespace, "cm-7")
        await wait_until(lambda: converged(rt_client, namespace), what="repairs")
        assert f"{namespace}/cm-5" in log
        ctrl = mgr.controllers["toy"]
        assert ctrl.errors == 0
        # Cached reads are the shared objects; copies must be made before editing.
        cached = mgr.cache.get(kinds.CONFIGMAP, namespace, "cm-1")
        assert cached is not None and "managedFields" not in cached["metadata"]
        assert copy.deepcopy(cached) == cached
        owned = mgr.cache.list(kinds.SECRET, namespace, index=("owner", cached["metadata"]["uid"]))
        assert [s["metadata"]["name"] for s in owned] == ["cm-1"]
        # Events were written and repeats aggregated onto one Event per (object, reason, message).
        await mgr.event_recorder("toy").flush()
        events = (await rt_client.list(kinds.EVENT, namespace))["items"]
        synced = [e for e in events if e["reason"] == "Synced" and e["involvedObject"]["name"] == "cm-3"]
        assert len(synced) == 1 and synced[0]["count"] >= 2


async def test_failing_key_is_retried_and_does_not_block_others(
    cluster: Any, rt_client: Client, namespace: str
) -> None:
    # This one goes through kubernetes_asyncio's ApiClient instead of the built-in connection.
    mgr = make_manager(cluster, namespace, use_kubernetes_asyncio=True)
    attempts: dict[str, int] = {}
    done: set[str] = set()

    async def reconcile(req: Request) -> Result | None:
        attempts[req.name] = attempts.get(req.name, 0) + 1
        if req.name == "bad" and attempts[req.name] < 4:
            raise RuntimeError("boom")
        if req.name == "requeue" and attempts[req.name] < 3:
            return Result(requeue_after=0.1)
        done.add(req.name)
        return None

    mgr.controller("flaky").for_(kinds.CONFIGMAP).complete(reconcile)
    async with running(mgr):
        for name in ("bad", "good", "requeue"):
            await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": name, "namespace": namespace}})
        await wait_until(lambda: {"bad", "good", "requeue"} <= done, what="all keys reconciled")
        assert attempts["good"] == 1
        assert attempts["bad"] == 4
        reg = mgr.metrics.registry
        assert reg.get_sample_value("controller_runtime_reconcile_errors_total", {"controller": "flaky"}) == 3
        assert (
            reg.get_sample_value(
                "controller_runtime_reconcile_total", {"controller": "flaky", "result": "requeue_after"}
            )
            == 2
        )


EXPECTED_METRICS = [
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "rest_client_requests_total",
    "leader_election_master_status",
]


async def test_metrics_and_probes(cluster: Any, rt_client: Client, namespace: str) -> None:
    lease = f"metrics-{namespace}"
    mgr = make_manager(
        cluster,
        namespace,
        leader_elect=True,
        leader_election_id=lease,
        leader_election_namespace=namespace,
    )
    release = asyncio.Event()
    original_list = mgr.client.list

    async def gated_list(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await original_list(*args, **kwargs)

    mgr.client.list = gated_list  # type: ignore[method-assign]
    log: list[str] = []
    toy_controller(mgr, log)
    await rt_client.create(
        kinds.CONFIGMAP, {"metadata": {"name": "m1", "namespace": namespace}, "data": {"a": "b"}}
    )
    async with running(mgr), aiohttp.ClientSession() as http:
        await wait_until(lambda: mgr.health_port and mgr.metrics_port, what="servers")
        base = f"http://127.0.0.1:{mgr.health_port}"
        async with http.get(f"{base}/readyz") as r:
            assert r.status == 503, "not ready before the caches synced"
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
        release.set()

        async def ready() -> bool:
            async with http.get(f"{base}/readyz") as r:
                return r.status == 200

        await wait_until(ready, what="readyz 200")
        await wait_until(lambda: converged(rt_client, namespace), what="reconciled")
        async with http.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        samples = {
            line.split("{")[0].split(" ")[0]
            for line in text.splitlines()
            if line and not line.startswith("#")
        }
        for name in EXPECTED_METRICS:
            assert any(s == name or s.startswith(name + "_") for s in samples), (
                f"{name} missing from /metrics"
            )
        assert 'controller_runtime_reconcile_total{controller="toy",result="success"}' in text
        assert f'leader_election_master_status{{name="{lease}"}} 1.0' in text
        assert 'controller_runtime_max_concurrent_reconciles{controller="toy"} 4.0' in text
        assert any(
            line.startswith('rest_client_requests_total{code="200",host=') and 'method="GET"' in line
            for line in text.splitlines()
        )
        assert 'workqueue_adds_total{controller="toy",name="toy"}' in text
        assert "process_resident_memory_bytes" in text
    # Released on graceful stop.
    lease_obj = await rt_client.get(kinds.LEASE, namespace, lease)
    assert not lease_obj["spec"].get("holderIdentity")
