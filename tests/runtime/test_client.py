"""The dict client against the real local apiserver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.runtime import (
    AlreadyExistsError,
    Client,
    ConflictError,
    Kind,
    NotFoundError,
    PatchType,
    RuntimeMetrics,
    kinds,
)
from kaito.runtime.client import Transport, UnknownKindError, load_api_client

pytestmark = pytest.mark.cluster


async def test_crud_roundtrip(rt_client: Client, namespace: str) -> None:
    c = rt_client
    cm = await c.create(
        kinds.CONFIGMAP, {"metadata": {"name": "a", "namespace": namespace}, "data": {"k": "1"}}
    )
    assert cm["metadata"]["uid"]
    with pytest.raises(AlreadyExistsError):
        await c.create(kinds.CONFIGMAP, {"metadata": {"name": "a", "namespace": namespace}})
    got = await c.get(kinds.CONFIGMAP, namespace, "a")
    assert got["data"] == {"k": "1"}
    got["data"]["k"] = "2"
    updated = await c.update(kinds.CONFIGMAP, got)
    assert updated["data"]["k"] == "2"
    with pytest.raises(ConflictError):
        await c.update(kinds.CONFIGMAP, got)  # stale resourceVersion
    patched = await c.patch(kinds.CONFIGMAP, namespace, "a", {"data": {"m": "x"}})
    assert patched["data"] == {"k": "2", "m": "x"}
    patched = await c.patch(
        kinds.CONFIGMAP, namespace, "a", [{"op": "remove", "path": "/data/m"}], patch_type=PatchType.JSON
    )
    assert patched["data"] == {"k": "2"}
    patched = await c.patch(
        kinds.CONFIGMAP, namespace, "a", {"metadata": {"labels": {"l": "v"}}}, patch_type=PatchType.STRATEGIC
    )
    assert patched["metadata"]["labels"] == {"l": "v"}
    listed = await c.list(kinds.CONFIGMAP, namespace, label_selector="l=v")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    assert listed["metadata"]["resourceVersion"]
    assert await c.delete(kinds.CONFIGMAP, namespace, "a") is True
    assert await c.delete(kinds.CONFIGMAP, namespace, "a") is False
    with pytest.raises(NotFoundError):
        await c.get(kinds.CONFIGMAP, namespace, "a")
    assert await c.get_or_none(kinds.CONFIGMAP, namespace, "a") is None


async def test_server_side_apply_and_conflicts(rt_client: Client, namespace: str) -> None:
    c = rt_client
    obj = {"metadata": {"name": "ssa", "namespace": namespace}, "data": {"a": "1", "b": "2"}}
    applied = await c.apply(kinds.CONFIGMAP, obj, field_manager="mgr-one")
    assert applied["data"] == {"a": "1", "b": "2"}
    managers = {
        f["manager"] for f in (await c.get(kinds.CONFIGMAP, namespace, "ssa"))["metadata"]["managedFields"]
    }
    assert "mgr-one" in managers
    with pytest.raises(ConflictError):
        await c.apply(
            kinds.CONFIGMAP,
            {"metadata": obj["metadata"], "data": {"a": "other"}},
            field_manager="two",
            force=False,
        )
    forced = await c.apply(
        kinds.CONFIGMAP, {"metadata": obj["metadata"], "data": {"a": "other"}}, field_manager="two"
    )
    assert forced["data"]["a"] == "other"
    # Omitting a field in a later apply releases it; nobody else owns "b", so it goes away.
    again = await c.apply(
        kinds.CONFIGMAP, {"metadata": obj["metadata"], "data": {"a": "1"}}, field_manager="mgr-one"
    )
    assert "b" not in again["data"]


async def test_status_subresource_and_modify(rt_client: Client, namespace: str) -> None:
    c = rt_client
    await c.create(
        kinds.SERVICE,
        {
            "metadata": {"name": "svc", "namespace": namespace},
            "spec": {"ports": [{"port": 80}], "type": "LoadBalancer"},
        },
    )
    status = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    patched = await c.patch_status(kinds.SERVICE, namespace, "svc", {"status": status})
    assert patched["status"]["loadBalancer"]["ingress"][0]["ip"] == "1.2.3.4"
    applied = await c.apply_status(
        kinds.SERVICE,
        {
            "metadata": {"name": "svc", "namespace": namespace},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}},
        },
    )
    assert applied["status"]["loadBalancer"]["ingress"][0]["ip"] == "5.6.7.8"

    await c.create(kinds.CONFIGMAP, {"metadata": {"name": "ctr", "namespace": namespace}, "data": {"n": "0"}})

    async def bump() -> None:
        def inc(obj: dict[str, object]) -> None:
            data = obj["data"]
            assert isinstance(data, dict)
            data["n"] = str(int(data["n"]) + 1)

        await c.modify(kinds.CONFIGMAP, namespace, "ctr", inc, attempts=20)

    await asyncio.gather(*(bump() for _ in range(5)))
    final = await c.get(kinds.CONFIGMAP, namespace, "ctr")
    assert final["data"]["n"] == "5", "conflict retries must not lose increments"
    assert await c.modify(kinds.CONFIGMAP, namespace, "missing", lambda o: None) is None


async def test_discovery_and_dynamic_kinds(rt_client: Client, namespace: str) -> None:
    c = rt_client
    lease_kind = await c.kind_for("coordination.k8s.io/v1", "Lease")
    assert lease_kind == kinds.LEASE
    pc = await c.kind_for("scheduling.k8s.io/v1", "PriorityClass")
    assert pc.plural == "priorityclasses" and not pc.namespaced
    rq = await c.kind_for("v1", "ResourceQuota")
    assert rq == Kind("", "v1", "ResourceQuota", "resourcequotas", True)
    with pytest.raises(UnknownKindError):
        await c.kind_for("example.com/v1", "Nope")
    got = await c.list(rq, namespace)
    assert got["items"] == []


async def test_rate_limit_and_request_metrics(cluster: Any, namespace: str) -> None:
    api = await load_api_client(cluster.kubeconfig)
    metrics = RuntimeMetrics(process_collector=False)
    client = Client(Transport(api, qps=20, burst=5, metrics=metrics, owns_connection=True))
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(client.get_or_none(kinds.CONFIGMAP, namespace, f"x{i}") for i in range(15)))
        elapsed = loop.time() - start
        # 5 immediately, 10 more at 20 qps: at least ~0.5 s.
        assert elapsed >= 0.45
        await client.create(kinds.CONFIGMAP, {"metadata": {"name": "m", "namespace": namespace}})
        assert client.stats.by_method["GET"] == 15
        assert client.stats.writes == 1
        host = client.transport.host
        value = metrics.registry.get_sample_value(
            "rest_client_requests_total", {"code": "404", "method": "GET", "host": host}
        )
        assert value == 15
        assert (
            metrics.registry.get_sample_value(
                "rest_client_requests_total", {"code": "201", "method": "POST", "host": host}
            )
            == 1
        )
        # The 10 GETs beyond the burst waited for the bucket, and the wait is on the dashboard.
        waits = {"verb": "GET", "host": host}
        assert (
            metrics.registry.get_sample_value("rest_client_rate_limiter_duration_seconds_count", waits) == 15
        )
        waited = metrics.registry.get_sample_value("rest_client_rate_limiter_duration_seconds_sum", waits)
        assert waited is not None and waited >= 0.45 * 10 / 2
    finally:
        await client.close()


async def test_watch_stream_and_bookmark_param(rt_client: Client, namespace: str) -> None:
    c = rt_client
    listed = await c.list(kinds.CONFIGMAP, namespace)
    rv = listed["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async for ev in c.watch(kinds.CONFIGMAP, namespace, resource_version=rv, timeout_seconds=5):
            if ev.type != "BOOKMARK":
                events.append((ev.type, ev.object["metadata"]["name"]))
            if len(events) >= 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await c.create(kinds.CONFIGMAP, {"metadata": {"name": "w", "namespace": namespace}})
    await c.patch(kinds.CONFIGMAP, namespace, "w", {"data": {"a": "b"}})
    await c.delete(kinds.CONFIGMAP, namespace, "w")
    await asyncio.wait_for(task, 10)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
