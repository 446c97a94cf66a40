"""The Machine lifecycle end to end on the real local cluster with the local (kwok) provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from e2e.cluster import LocalCluster
from gpu_provisioner.cmd import App
from tests.gpu_provisioner.harness import (
    condition,
    get_json,
    install_machine_crd,
    kubectl,
    machine_manifest,
    machine_name,
    running_provisioner,
    until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
LOCAL_PROVIDER_SELECTOR = "gpu-provisioner.kaito.sh/provider=local"


async def our_nodes(cluster: LocalCluster) -> list[dict[str, Any]]:
    data = await get_json(cluster, "nodes", "-l", LOCAL_PROVIDER_SELECTOR)
    return list((data or {}).get("items") or [])


async def listed_machines(cluster: LocalCluster) -> list[str]:
    data = await get_json(cluster, "machines", "-l", "kaito.sh/workspace=pv-test")
    return [m["metadata"]["name"] for m in (data or {}).get("items") or []]


ARGS = [
    "--provider=local",
    "--leader-elect=true",
    "--gc-grace-period=2s",
    "--gc-interval=1s",
    # Only this module's Machines: others' tests in the same cluster are not ours to serve.
    "--machine-selector=kaito.sh/workspace=pv-test",
]


@pytest.fixture
async def provisioner(cluster: LocalCluster) -> AsyncIterator[App]:
    await install_machine_crd(cluster)
    async with running_provisioner(cluster, ARGS) as app:
        yield app
        await _cleanup(cluster)


async def _cleanup(cluster: LocalCluster) -> None:
    """With the provisioner still running: delete what the test left; then nothing may be left over."""
    names = await listed_machines(cluster)
    if names:
        await kubectl(cluster, "delete", "machines", *names, "--wait=false")
    await until(lambda: _empty(listed_machines(cluster)), "test machines gone", timeout=60)
    await until(lambda: _empty(our_nodes(cluster)), "provisioned nodes gone", timeout=60)


async def _empty(coro: Any) -> bool:
    return not await coro


async def test_machine_ready_then_deleted_cleanly(cluster: LocalCluster, provisioner: App) -> None:
    name = machine_name()
    cluster.apply(machine_manifest(name))

    async def ready() -> dict[str, Any] | None:
        m = await get_json(cluster, "machine", name)
        c = condition(m, "Ready")
        return m if c and c["status"] == "True" else None

    machine = await until(ready, f"machine {name} Ready", timeout=90)
    assert machine is not None
    status = machine["status"]
    node_name = status["nodeName"]
    assert status["providerID"]
    assert status["allocatable"]["nvidia.com/gpu"] == "1"
    for t in ("MachineLaunched", "MachineRegistered", "MachineInitialized"):
        assert (condition(machine, t) or {}).get("status") == "True", t
    assert machine["metadata"]["finalizers"] == ["karpenter.sh/termination"]
    node = await get_json(cluster, "node", node_name)
    labels = node["metadata"]["labels"]
    assert labels["kaito.sh/workspace"] == "pv-test"
    assert labels["karpenter.sh/registered"] == "true"
    assert labels["karpenter.sh/initialized"] == "true"
    assert node["metadata"]["ownerReferences"][0]["name"] == name
    assert any(t["key"] == "sku" for t in node["spec"]["taints"])

    await kubectl(cluster, "delete", "machine", name, "--wait=false")
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} gone", timeout=60)
    assert await get_json(cluster, "node", node_name) is None
    text = await kubectl(
        cluster, "get", "events", "-A", "--field-selector", f"involvedObject.name={name}", "-o", "json"
    )
    reasons = {e["reason"] for e in json.loads(text)["items"]}
    assert {"Launched", "Registered", "Initialized", "Terminated"} <= reasons

    url = f"http://127.0.0.1:{provisioner.manager.metrics_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        exposition = await resp.text()
    for family in (
        'karpenter_machines_created_total{provider="local"} 1.0',
        'karpenter_machines_registered_total{provider="local"} 1.0',
        'karpenter_machines_initialized_total{provider="local"} 1.0',
        'karpenter_machines_terminated_total{provider="local",reason="deleted"} 1.0',
        'gpu_provisioner_cloudprovider_duration_seconds_count{method="create",provider="local"}',
        'controller_runtime_reconcile_total{controller="machine.lifecycle"',
        "workqueue_depth",
    ):
        assert family in exposition, family


async def _gone(cluster: LocalCluster, *args: str) -> bool:
    return await get_json(cluster, *args) is None


async def test_orphan_node_is_collected(cluster: LocalCluster, provisioner: App) -> None:
    pool = machine_name()
    manifest = cluster.gpu_node_manifest(
        f"kwok-{pool}",
        labels={
            "gpu-provisioner.kaito.sh/provider": "local",
            "kubernetes.azure.com/agentpool": pool,
            "agentpool": pool,
            "karpenter.sh/provisioner-name": "default",
        },
        provider_id=f"kwok://{pool}",
    )
    manifest["metadata"]["annotations"]["gpu-provisioner.kaito.sh/machine"] = pool
    await kubectl(cluster, "create", "-f", "-", input=json.dumps(manifest))
    await until(lambda: _gone(cluster, "node", f"kwok-{pool}"), "orphan node collected", timeout=60)
    registry = provisioner.manager.metrics.registry
    collected = sum(
        registry.get_sample_value("gpu_provisioner_garbage_collected_total", {"provider": "local", "kind": k})
        or 0
        for k in ("instance", "node")
    )
    assert collected >= 1


async def test_machine_whose_node_vanished_is_replaced_by_deletion(
    cluster: LocalCluster, provisioner: App
) -> None:
    name = machine_name()
    cluster.apply(machine_manifest(name))

    async def node_name() -> str | None:
        m = await get_json(cluster, "machine", name)
        c = condition(m, "Ready")
        return m["status"]["nodeName"] if c and c["status"] == "True" else None

    node = await until(node_name, f"machine {name} Ready", timeout=90)
    assert node is not None
    # Someone deletes the node (the "cloud capacity" of the local provider) behind our back.
    await kubectl(cluster, "delete", "node", node, "--wait=false")
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} collected", timeout=60)


async def test_restart_mid_create_with_local_provider(cluster: LocalCluster) -> None:
    await install_machine_crd(cluster)
    name = machine_name()
    async with running_provisioner(cluster, [*ARGS, "--local-create-delay=4s"]):
        cluster.apply(machine_manifest(name))

        async def launching() -> bool:
            c = condition(await get_json(cluster, "machine", name), "MachineLaunched")
            return c is not None and c["status"] == "Unknown"

        await until(launching, "launch in flight", timeout=30)
    # Stopped while the node was still "coming up"; a fresh process finishes the job.
    async with running_provisioner(cluster, [*ARGS, "--local-create-delay=1s"]):
        try:

            async def ready() -> bool:
                c = condition(await get_json(cluster, "machine", name), "Ready")
                return c is not None and c["status"] == "True"

            await until(ready, f"machine {name} Ready after restart", timeout=60)
            nodes = [n for n in await our_nodes(cluster) if n["metadata"]["labels"].get("agentpool") == name]
            assert len(nodes) == 1
        finally:
            await _cleanup(cluster)
