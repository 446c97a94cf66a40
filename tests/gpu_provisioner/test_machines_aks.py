"""The Machine lifecycle end to end: real local cluster, the AKS provider on the real Azure SDK,
talking HTTPS to the ARM emulator, which registers kwok Nodes as AKS would. Every test ends with
no agent pool, no Node and no Machine left (asserted by the fixtures)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from e2e.cluster import LocalCluster
from gpu_provisioner.cloudprovider import CloudProviderMetrics, NodeRequest
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider, AKSConfig
from gpu_provisioner.cloudprovider.retry import RetrySettings
from gpu_provisioner.cmd import App
from kaito.runtime.client import Client
from tests.gpu_provisioner.harness import (
    arm_on_cluster,
    condition,
    get_json,
    install_machine_crd,
    kubectl,
    machine_manifest,
    machine_name,
    running_provisioner,
    until,
)
from tests.support.armemulator import (
    ArmEmulator,
    EmulatorSettings,
    StaticTokenCredential,
    quota_exceeded,
    server_error,
    throttle,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
WORKSPACE = "pv-aks"
PROVISIONER_ARGS = [
    "--provider=aks",
    "--gc-grace-period=2s",
    "--gc-interval=1s",
    f"--machine-selector=kaito.sh/workspace={WORKSPACE}",
]


def aks_config(arm: ArmEmulator) -> AKSConfig:
    s = arm.settings
    return AKSConfig(
        subscription_id=s.subscription_id,
        resource_group=s.resource_group,
        cluster_name=s.cluster_name,
        location=s.location,
        arm_endpoint=arm.url,
        ca_bundle=arm.ca_path,
        polling_interval_s=0.1,
        sdk_retries=3,
        sdk_backoff_factor_s=0.05,
        retry=RetrySettings(attempts=4, initial_backoff_s=0.1, max_backoff_s=0.5, max_retry_after_s=2.0),
        operation_timeout_s=60.0,
        vm_lookup_timeout_s=5.0,
    )


async def listed_machines(cluster: LocalCluster) -> list[str]:
    data = await get_json(cluster, "machines", "-l", f"kaito.sh/workspace={WORKSPACE}")
    return [m["metadata"]["name"] for m in (data or {}).get("items") or []]


async def _none(coro: Any) -> bool:
    return not await coro


async def _gone(cluster: LocalCluster, *args: str) -> bool:
    return await get_json(cluster, *args) is None


@pytest.fixture
async def arm(cluster: LocalCluster, kube_client: Client) -> AsyncIterator[ArmEmulator]:
    await install_machine_crd(cluster)
    async with arm_on_cluster(
        kube_client, EmulatorSettings(cluster_hash="11223344", create_duration_s=0.5, delete_duration_s=0.2)
    ) as emulator:
        yield emulator


@pytest.fixture
async def provisioner(cluster: LocalCluster, arm: ArmEmulator) -> AsyncIterator[App]:
    async with running_provisioner(
        cluster, PROVISIONER_ARGS, credential=StaticTokenCredential(), aks_config=aks_config(arm)
    ) as app:
        yield app
        await _cleanup(cluster, arm)


async def _cleanup(cluster: LocalCluster, arm: ArmEmulator) -> None:
    """With the provisioner still running: delete what the test left and wait for it to be released."""
    names = await listed_machines(cluster)
    if names:
        await kubectl(cluster, "delete", "machines", *names, "--wait=false")
    await until(lambda: _none(listed_machines(cluster)), "test machines gone", timeout=90)
    await until(lambda: _true(not arm.pools), "agent pools gone", timeout=60)


async def _true(value: bool) -> bool:
    return value


async def wait_ready(cluster: LocalCluster, name: str, timeout: float = 90) -> dict[str, Any]:  # noqa: ASYNC109
    async def ready() -> dict[str, Any] | None:
        m = await get_json(cluster, "machine", name)
        c = condition(m, "Ready")
        return m if c and c["status"] == "True" else None

    machine = await until(ready, f"machine {name} Ready", timeout=timeout)
    assert machine is not None
    return machine


def put_count(arm: ArmEmulator, pool: str) -> int:
    return sum(
        1 for m, path, _ in arm.requests if m == "PUT" and path.lower().endswith(f"/agentpools/{pool}")
    )


async def test_machine_ready_on_aks_then_delete_removes_node_and_pool(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    name = machine_name()
    cluster.apply(machine_manifest(name, "Standard_NC24ads_A100_v4", workspace=WORKSPACE))
    machine = await wait_ready(cluster, name)
    status = machine["status"]
    assert status["providerID"].startswith("azure:///subscriptions/")
    assert machine["metadata"]["annotations"]["karpenter.sh/linked"] == status["providerID"]
    node = await get_json(cluster, "node", status["nodeName"])
    assert node["spec"]["providerID"] == status["providerID"]
    assert node["metadata"]["labels"]["kubernetes.azure.com/agentpool"] == name
    assert node["metadata"]["labels"]["karpenter.sh/initialized"] == "true"
    pool = arm.pools[name]
    assert pool.properties["vmSize"] == "Standard_NC24ads_A100_v4"
    assert pool.properties["osDiskSizeGB"] == 120
    assert "sku=gpu:NoSchedule" in pool.properties["nodeTaints"]

    await kubectl(cluster, "delete", "machine", name, "--wait=false")
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} gone", timeout=60)
    assert name not in arm.pools
    assert await get_json(cluster, "node", status["nodeName"]) is None
    assert arm.pools_created == 1


async def test_throttling_and_server_errors_delay_but_never_duplicate(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    arm.inject(
        # More 429s than the SDK and the provider retry inside one call: the controller must back off too.
        throttle("PUT", r"/agentPools/", times=25, retry_after=0.1),
        # The pool is created but the answer is lost: the classic duplicate-maker.
        server_error("PUT", r"/agentPools/", times=2, after_apply=True),
        throttle("GET", r"/agentPools", times=6, retry_after=0.1),
        server_error("GET", r"/operations/", times=2),
    )
    name = machine_name()
    cluster.apply(machine_manifest(name, workspace=WORKSPACE))
    await wait_ready(cluster, name, timeout=120)
    retries = provisioner.manager.metrics.registry.get_sample_value(
        "gpu_provisioner_operation_retries_total", {"provider": "aks", "operation": "create"}
    )
    assert (retries or 0) >= 1
    assert arm.pools_created == 1
    assert arm.max_pools == 1
    assert list(arm.pools) == [name]
    nodes = await get_json(cluster, "nodes", "-l", f"kubernetes.azure.com/agentpool={name}")
    assert len(nodes["items"]) == 1
    arm.inject(throttle("DELETE", r"/agentPools/", times=3, retry_after=0.2), server_error("DELETE", times=1))
    await kubectl(cluster, "delete", "machine", name, "--wait=false")
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} gone", timeout=90)
    assert arm.pools == {}


async def test_quota_error_shows_on_machine_and_is_not_retried(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    arm.inject(quota_exceeded())
    name = machine_name()
    cluster.apply(machine_manifest(name, "Standard_NC24ads_A100_v4", workspace=WORKSPACE))

    async def failed() -> dict[str, Any] | None:
        c = condition(await get_json(cluster, "machine", name), "MachineLaunched")
        return c if c and c["status"] == "False" else None

    launched = await until(failed, "launch failure recorded", timeout=60)
    assert launched is not None
    assert launched["reason"] == "QuotaExceeded"
    assert "exceeding approved standardNCADSA100v4Family Cores quota" in launched["message"]
    ready = condition(await get_json(cluster, "machine", name), "Ready")
    assert ready is not None and ready["status"] == "False" and "quota" in ready["message"]
    puts = put_count(arm, name)
    await asyncio.sleep(3)
    assert put_count(arm, name) == puts, "a final error must not be retried"
    assert arm.pools == {}
    # Deleting a Machine that never launched still releases it.
    await kubectl(cluster, "delete", "machine", name, "--wait=false")
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} gone", timeout=60)


async def test_orphan_pool_and_orphan_node_are_collected(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    # A pool (with its Node) made for a Machine that no longer exists, e.g. deleted while we were down.
    metrics = CloudProviderMetrics(CollectorRegistry())
    other = AKSCloudProvider(aks_config(arm), metrics, credential=StaticTokenCredential())
    orphan = machine_name()
    try:
        inst = await other.create(NodeRequest(name=orphan, instance_type="Standard_NC6s_v3"))
    finally:
        await other.close()
    assert inst.provider_id
    # And a Node of ours whose Machine is gone but whose pool is not ours to judge.
    stray = f"aks-{machine_name()}-11223344-vmss000000"
    manifest = cluster.gpu_node_manifest(stray, labels={"karpenter.sh/provisioner-name": "default"})
    manifest["metadata"]["ownerReferences"] = [
        {"apiVersion": "karpenter.sh/v1alpha5", "kind": "Machine", "name": "wsdeadbeef0", "uid": "0000-dead"}
    ]
    await asyncio.to_thread(cluster.apply, manifest)
    await until(lambda: _true(orphan not in arm.pools), "orphan pool collected", timeout=60)
    await until(lambda: _gone(cluster, "node", stray), "orphan node collected", timeout=60)
    nodes = await get_json(cluster, "nodes", "-l", f"kubernetes.azure.com/agentpool={orphan}")
    assert nodes["items"] == []
    registry = provisioner.manager.metrics.registry
    for kind in ("instance", "node"):
        value = registry.get_sample_value(
            "gpu_provisioner_garbage_collected_total", {"provider": "aks", "kind": kind}
        )
        assert (value or 0) >= 1, kind


async def test_restart_mid_create_adopts_the_pool(cluster: LocalCluster, arm: ArmEmulator) -> None:
    arm.settings.create_duration_s = 4.0
    name = machine_name()
    try:
        async with running_provisioner(
            cluster, PROVISIONER_ARGS, credential=StaticTokenCredential(), aks_config=aks_config(arm)
        ):
            cluster.apply(machine_manifest(name, workspace=WORKSPACE))
            await until(lambda: _true(name in arm.pools), "pool creation started", timeout=30)
        # The first provisioner is gone while the create runs on in the cloud.
        assert arm.pools[name].state in ("Creating", "Succeeded")
        async with running_provisioner(
            cluster, PROVISIONER_ARGS, credential=StaticTokenCredential(), aks_config=aks_config(arm)
        ):
            await wait_ready(cluster, name, timeout=90)
            assert arm.pools_created == 1
            assert arm.max_pools == 1
            await _cleanup(cluster, arm)
    finally:
        arm.settings.create_duration_s = 0.5


async def test_delete_mid_create_leaves_no_pool(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    arm.settings.create_duration_s = 3.0
    try:
        name = machine_name()
        cluster.apply(machine_manifest(name, workspace=WORKSPACE))
        await until(lambda: _true(name in arm.pools), "pool creation started", timeout=30)
        await kubectl(cluster, "delete", "machine", name, "--wait=false")
        await until(lambda: _gone(cluster, "machine", name), f"machine {name} gone", timeout=90)
        await until(lambda: _true(not arm.pools), "pool gone", timeout=30)
    finally:
        arm.settings.create_duration_s = 0.5


async def test_machine_whose_pool_vanished_is_deleted(
    cluster: LocalCluster, arm: ArmEmulator, provisioner: App
) -> None:
    name = machine_name()
    cluster.apply(machine_manifest(name, workspace=WORKSPACE))
    await wait_ready(cluster, name)
    # Deleted in the portal, say: the pool, its VM and its Node go behind our back.
    await arm.vanish(name)
    await until(lambda: _gone(cluster, "machine", name), f"machine {name} collected", timeout=60)
    value = provisioner.manager.metrics.registry.get_sample_value(
        "gpu_provisioner_garbage_collected_total", {"provider": "aks", "kind": "machine"}
    )
    assert value == 1
