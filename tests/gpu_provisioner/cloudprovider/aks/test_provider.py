"""The AKS provider against the ARM emulator, through the real Azure SDK over HTTPS: the happy path."""

from __future__ import annotations

import asyncio

import pytest

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InstanceConflictError,
    InstanceNotFoundError,
    InstanceState,
    InstrumentedCloudProvider,
    NodeRequest,
    Taint,
    TaintEffect,
)
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider
from gpu_provisioner.instancetypes import catalog_instance_types
from tests.gpu_provisioner.conftest import aks_config_for
from tests.support.armemulator import ArmEmulator, RecordingNodeRegistrar, StaticTokenCredential

A100 = "Standard_NC24ads_A100_v4"


def _request(name: str = "ws0a1b2c3d4", **kw: object) -> NodeRequest:
    values: dict[str, object] = {
        "name": name,
        "instance_type": A100,
        "labels": {"kaito.sh/workspace": "falcon-7b"},
        "taints": (Taint("sku", TaintEffect.NO_SCHEDULE, "gpu"),),
        "os_disk_gb": 100,
    }
    values.update(kw)
    return NodeRequest(**values)  # type: ignore[arg-type]


def _nodes(arm: ArmEmulator) -> RecordingNodeRegistrar:
    assert isinstance(arm.nodes, RecordingNodeRegistrar)
    return arm.nodes


async def test_create_registers_one_node_with_matching_provider_id(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    inst = await aks.create(_request())
    assert inst.state is InstanceState.RUNNING
    assert inst.name == "ws0a1b2c3d4"
    assert inst.machine_name == "ws0a1b2c3d4"
    assert inst.instance_type == A100

    # The pool as AKS received it.
    pool = arm.pools["ws0a1b2c3d4"]
    props = pool.properties
    assert (props["vmSize"], props["count"], props["mode"], props["osType"]) == (A100, 1, "User", "Linux")
    assert props["type"] == "VirtualMachineScaleSets"
    assert props["osDiskSizeGB"] == 100
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert props["nodeLabels"]["kaito.sh/workspace"] == "falcon-7b"
    assert props["tags"]["kaito-machine"] == "ws0a1b2c3d4"

    # The Node AKS registered carries the same providerID the provider returned.
    (node,) = _nodes(arm).nodes.values()
    assert node["spec"]["providerID"] == inst.provider_id
    assert inst.provider_id == arm.provider_id(pool)
    assert inst.provider_id.startswith("azure:///subscriptions/")
    assert "/virtualMachineScaleSets/aks-ws0a1b2c3d4-12345678-vmss/virtualMachines/0" in inst.provider_id
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.azure.com/agentpool"] == "ws0a1b2c3d4"
    assert labels["node.kubernetes.io/instance-type"] == A100
    assert labels["kaito.sh/workspace"] == "falcon-7b"
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"

    got = await aks.get("ws0a1b2c3d4")
    assert got.provider_id == inst.provider_id
    assert got.state is InstanceState.RUNNING

    await aks.delete("ws0a1b2c3d4")
    assert arm.pools == {}
    assert _nodes(arm).nodes == {}
    with pytest.raises(InstanceNotFoundError):
        await aks.get("ws0a1b2c3d4")
    with pytest.raises(InstanceNotFoundError):
        await aks.delete("ws0a1b2c3d4")
    assert arm.pools_created == 1


async def test_capacity_comes_from_the_instance_type_lookup(
    arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    provider = AKSCloudProvider(
        aks_config_for(arm),
        metrics,
        credential=StaticTokenCredential(),
        instance_types=catalog_instance_types(),
    )
    try:
        inst = await provider.create(_request(instance_type="Standard_NC96ads_A100_v4"))
        assert inst.capacity["nvidia.com/gpu"] == "4"
        assert inst.capacity["ephemeral-storage"] == "100Gi"
        await provider.delete(inst.machine_name or "")
    finally:
        await provider.close()


async def test_list_returns_only_our_pools_across_pages(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    arm.settings.list_page_size = 2
    arm.seed_pool("nodepool1")  # the cluster's system pool: never ours
    arm.seed_pool("userpool", tags={"team": "x"})
    names = ["ws0000000a1", "ws0000000a2", "ws0000000a3"]
    created = await asyncio.gather(*(aks.create(_request(n)) for n in names))
    listed = await aks.list()
    assert sorted(i.machine_name or "" for i in listed) == names
    assert {i.provider_id for i in listed} == {i.provider_id for i in created}
    assert all(i.state is InstanceState.RUNNING for i in listed)
    assert arm.count("GET", r"/agentPools$") >= 3  # paged through nextLink

    for n in names:
        await aks.delete(n)
    assert await aks.list() == []
    await arm.vanish("nodepool1")
    await arm.vanish("userpool")


async def test_pools_that_are_not_ours_are_never_adopted_or_deleted(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    arm.seed_pool("nodepool1")
    with pytest.raises(InstanceConflictError, match="refusing to overwrite"):
        await aks.create(_request("nodepool1", instance_type="Standard_D4s_v3"))
    with pytest.raises(InstanceConflictError, match="not deleting"):
        await aks.delete("nodepool1")
    assert arm.count("PUT") == 0
    assert arm.count("DELETE") == 0
    assert arm.pools["nodepool1"].state == "Succeeded"
    await arm.vanish("nodepool1")


async def test_create_for_an_existing_pool_of_the_same_machine_adopts_it(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    first = await aks.create(_request())
    again = await aks.create(_request())
    assert again.provider_id == first.provider_id
    assert arm.count("PUT") == 1
    assert arm.pools_created == 1
    # Same Machine name but another VM size: not the same request, so no silent adoption.
    with pytest.raises(InstanceConflictError, match="vm size"):
        await aks.create(_request(instance_type="Standard_NC6s_v3"))
    await aks.delete("ws0a1b2c3d4")


async def test_concurrent_creates_for_one_machine_make_one_pool(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    results = await asyncio.gather(*(aks.create(_request()) for _ in range(3)))
    assert len({r.provider_id for r in results}) == 1
    assert arm.pools_created == 1
    assert len(_nodes(arm).nodes) == 1
    await aks.delete("ws0a1b2c3d4")


async def test_long_machine_names_get_a_derived_pool(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    inst = await aks.create(_request("workspace-llama-3-70b-instruct-0"))
    assert inst.name in arm.pools
    assert len(inst.name) <= 12
    assert inst.machine_name == "workspace-llama-3-70b-instruct-0"
    assert (await aks.get("workspace-llama-3-70b-instruct-0")).name == inst.name
    await aks.delete("workspace-llama-3-70b-instruct-0")


async def test_metrics_time_every_call(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    await aks.create(_request())
    await aks.list()
    await aks.delete("ws0a1b2c3d4")
    with pytest.raises(InstanceNotFoundError):
        await aks.get("ws0a1b2c3d4")

    sample = metrics.registry.get_sample_value
    for method in ("create", "list", "delete", "get"):
        count = sample(
            "gpu_provisioner_cloudprovider_duration_seconds_count", {"method": method, "provider": "aks"}
        )
        assert count == 1, method
    labels = {"method": "get", "provider": "aks", "error": "InstanceNotFoundError"}
    assert sample("gpu_provisioner_cloudprovider_errors_total", labels) == 1
    labels = {"provider": "aks", "verb": "PUT", "status": "201"}
    assert sample("gpu_provisioner_cloudprovider_http_requests_total", labels) == 1


async def test_aks_validation_errors_are_final_with_its_message(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    from gpu_provisioner.cloudprovider import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="osDiskSizeGB"):
        await aks.create(_request(os_disk_gb=10))
    assert arm.count("PUT") == 1
    assert arm.pools == {}


async def test_a_wrong_cluster_name_is_a_final_error(arm: ArmEmulator, metrics: CloudProviderMetrics) -> None:
    from gpu_provisioner.cloudprovider import InvalidRequestError

    provider = AKSCloudProvider(
        aks_config_for(arm, cluster_name="no-such-cluster", node_resource_group="MC_x"),
        metrics,
        credential=StaticTokenCredential(),
    )
    try:
        with pytest.raises(InvalidRequestError, match="managed cluster no-such-cluster"):
            await provider.create(_request())
    finally:
        await provider.close()
