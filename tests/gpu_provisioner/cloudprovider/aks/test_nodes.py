"""AKS provider -> Azure SDK -> ARM emulator -> kwok Node in the real local cluster, and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InstanceNotFoundError,
    InstrumentedCloudProvider,
    NodeRequest,
)
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider
from kaito.runtime.client import Client, kinds
from kaito.runtime.objects import Obj, node_is_ready
from tests.gpu_provisioner.conftest import aks_config_for
from tests.gpu_provisioner.harness import arm_on_cluster
from tests.support.armemulator import (
    ArmEmulator,
    EmulatorSettings,
    StaticTokenCredential,
    throttle,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
async def cluster_arm(kube_client: Client) -> AsyncIterator[ArmEmulator]:
    async with arm_on_cluster(
        kube_client, EmulatorSettings(cluster_hash="87654321"), idle_timeout=10.0
    ) as emulator:
        yield emulator


async def _node_by_provider_id(client: Client, provider_id: str) -> list[Obj]:
    nodes = await client.list(kinds.NODE)
    return [n for n in nodes["items"] if n.get("spec", {}).get("providerID") == provider_id]


async def test_pool_create_registers_a_ready_node_and_delete_removes_it(
    cluster_arm: ArmEmulator, kube_client: Client, metrics: CloudProviderMetrics
) -> None:
    provider = InstrumentedCloudProvider(
        AKSCloudProvider(aks_config_for(cluster_arm), metrics, credential=StaticTokenCredential()), metrics
    )
    cluster_arm.inject(throttle("PUT", r"/agentPools/", times=1, retry_after=0.1))
    machine = "ws7c0ffee01"
    try:
        inst = await provider.create(
            NodeRequest(
                name=machine, instance_type="Standard_NC24ads_A100_v4", labels={"kaito.sh/workspace": "w"}
            )
        )
        assert inst.provider_id is not None
        (node,) = await _node_by_provider_id(kube_client, inst.provider_id)
        assert node["metadata"]["labels"]["kubernetes.azure.com/agentpool"] == machine
        assert node["metadata"]["labels"]["kaito.sh/workspace"] == "w"
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
        async with asyncio.timeout(30):  # kwok takes it from here, as a kubelet would
            while True:
                node = await kube_client.get(kinds.NODE, None, node["metadata"]["name"])
                if node_is_ready(node):
                    break
                await asyncio.sleep(0.2)
        assert [i.provider_id for i in await provider.list()] == [inst.provider_id]

        await provider.delete(machine)
        assert await _node_by_provider_id(kube_client, inst.provider_id) == []
        with pytest.raises(InstanceNotFoundError):
            await provider.get(machine)
        assert cluster_arm.pools_created == 1
    finally:
        await provider.close()
