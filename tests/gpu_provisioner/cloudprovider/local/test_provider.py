"""The local provider against the real local control plane: kwok Nodes stand in for cloud VMs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InstanceConflictError,
    InstanceNotFoundError,
    InstanceState,
    InstrumentedCloudProvider,
    InvalidRequestError,
    NodeRequest,
    RetryableError,
    Taint,
    TaintEffect,
)
from gpu_provisioner.cloudprovider.local import LocalCloudProvider, node_name_for
from kaito.runtime.client import Client
from kaito.runtime.client.kinds import NODE
from kaito.runtime.objects import Obj

pytestmark = pytest.mark.cluster

A100 = "Standard_NC24ads_A100_v4"


def _machine() -> str:
    return f"ws{uuid.uuid4().hex[:9]}"


@pytest.fixture
async def local(
    kube_client: Client, metrics: CloudProviderMetrics
) -> AsyncIterator[InstrumentedCloudProvider]:
    inner = LocalCloudProvider(kube_client, metrics, create_delay_s=0.3)
    provider = InstrumentedCloudProvider(inner, metrics)
    yield provider
    leaked = await provider.list()
    assert leaked == [], f"leaked local instances: {[i.name for i in leaked]}"
    await provider.close()


async def _wait_ready(client: Client, name: str) -> Obj:
    async with asyncio.timeout(30):
        while True:
            node = await client.get(NODE, None, name)
            conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions") or []}
            if conds.get("Ready") == "True":
                return node
            await asyncio.sleep(0.2)


async def _wait_gone(client: Client, name: str) -> None:
    async with asyncio.timeout(30):
        while True:
            if await client.get_or_none(NODE, None, name) is None:
                return
            await asyncio.sleep(0.1)


async def test_lifecycle_makes_a_ready_gpu_node(
    local: InstrumentedCloudProvider, kube_client: Client
) -> None:
    core = kube_client
    machine = _machine()
    request = NodeRequest(
        name=machine,
        instance_type=A100,
        labels={"kaito.sh/workspace": "falcon"},
        taints=(Taint("sku", TaintEffect.NO_SCHEDULE, "gpu"),),
        os_disk_gb=200,
    )
    creating = asyncio.create_task(local.create(request))
    await asyncio.sleep(0.1)
    pending = await local.get(machine)
    assert pending.state is InstanceState.CREATING
    assert pending.provider_id is None
    assert [i.machine_name for i in await local.list()] == [machine]

    inst = await creating
    assert inst.state is InstanceState.RUNNING
    assert inst.provider_id == f"kwok://{node_name_for(machine)}"
    assert inst.capacity["nvidia.com/gpu"] == "1"
    assert inst.capacity["ephemeral-storage"] == "200Gi"

    node = await _wait_ready(core, node_name_for(machine))
    assert node["spec"]["providerID"] == inst.provider_id
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.azure.com/agentpool"] == machine
    assert labels["node.kubernetes.io/instance-type"] == A100
    assert labels["kaito.sh/workspace"] == "falcon"
    assert (labels["nvidia.com/gpu.count"], labels["nvidia.com/gpu.memory"]) == ("1", str(80 * 1024))
    assert labels["nvidia.com/gpu.product"] == "A100"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"]["taints"]}
    assert ("sku", "gpu", "NoSchedule") in taints
    assert ("kwok.x-k8s.io/node", "fake", "NoSchedule") in taints

    # Idempotent: a second create adopts the node.
    again = await local.create(request)
    assert again.provider_id == inst.provider_id

    await local.delete(machine)
    await _wait_gone(core, node_name_for(machine))
    with pytest.raises(InstanceNotFoundError):
        await local.get(machine)
    with pytest.raises(InstanceNotFoundError):
        await local.delete(machine)


async def test_delete_does_not_wait_for_node_finalizers(
    local: InstrumentedCloudProvider, kube_client: Client
) -> None:
    core = kube_client
    machine = _machine()
    await local.create(NodeRequest(name=machine, instance_type=A100))
    name = node_name_for(machine)
    await core.patch(NODE, None, name, {"metadata": {"finalizers": ["karpenter.sh/termination"]}})
    await asyncio.wait_for(local.delete(machine), 10)
    assert (await local.get(machine)).state is InstanceState.DELETING
    await local.delete(machine)  # already deleting: fine
    await core.patch(NODE, None, name, {"metadata": {"finalizers": None}})
    await _wait_gone(core, name)
    with pytest.raises(InstanceNotFoundError):
        await local.get(machine)


async def test_delete_while_pending_cancels_the_create(local: InstrumentedCloudProvider) -> None:
    machine = _machine()
    creating = asyncio.create_task(local.create(NodeRequest(name=machine, instance_type=A100)))
    await asyncio.sleep(0.05)
    await local.delete(machine)
    with pytest.raises(RetryableError):
        await creating
    with pytest.raises(InstanceNotFoundError):
        await local.get(machine)


async def test_unknown_instance_type_is_final(local: InstrumentedCloudProvider) -> None:
    with pytest.raises(InvalidRequestError, match="not in the catalog"):
        await local.create(NodeRequest(name=_machine(), instance_type="Standard_Imaginary_v9"))


async def test_someone_elses_node_is_neither_adopted_nor_deleted(
    local: InstrumentedCloudProvider, kube_client: Client
) -> None:
    core = kube_client
    machine = _machine()
    name = node_name_for(machine)
    await core.create(NODE, {"metadata": {"name": name}})
    try:
        with pytest.raises(InstanceConflictError):
            await local.create(NodeRequest(name=machine, instance_type=A100))
        with pytest.raises(InstanceNotFoundError):
            await local.get(machine)
        with pytest.raises(InstanceConflictError):
            await local.delete(machine)
    finally:
        await core.delete(NODE, None, name)


async def test_forbidden_is_retried_not_a_permanent_failure(
    cluster: Any, kube_client: Client, metrics: CloudProviderMetrics, tmp_path: Any
) -> None:
    """A restarted apiserver answers 403 until its RBAC caches are filled; so does one whose ClusterRole
    is missing. Either way the launch must be retried, not given up (which leaves a Machine failed)."""
    from gpu_provisioner.cloudprovider import UnauthorizedError
    from gpu_provisioner.cloudprovider.retry import RetrySettings

    sa = f"np-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "serviceaccount", sa, "-n", "default")
    token = cluster.kubectl("create", "token", sa, "-n", "default").stdout.strip()
    kubeconfig = cluster.write_token_kubeconfig(
        tmp_path / "kc", token, user=f"system:serviceaccount:default:{sa}"
    )
    fast = RetrySettings(attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1)
    api = await Client.from_kubeconfig(kubeconfig, qps=0, burst=0)
    try:
        provider = LocalCloudProvider(api, metrics, retry=fast)
        request = NodeRequest(name=_machine(), instance_type=A100, labels={}, taints=(), os_disk_gb=100)
        with pytest.raises(RetryableError, match="403") as err:
            await provider.create(request)
        assert not isinstance(err.value, UnauthorizedError)
        # Permission granted (or RBAC warmed up): the next attempt goes through.
        cluster.kubectl("create", "clusterrole", sa, "--verb=create,get,list,delete", "--resource=nodes")
        cluster.kubectl(
            "create", "clusterrolebinding", sa, f"--clusterrole={sa}", f"--serviceaccount=default:{sa}"
        )
        try:
            async with asyncio.timeout(30):
                while True:
                    try:
                        inst = await provider.create(request)
                        break
                    except RetryableError:  # the authorizer's cache catches up with the binding
                        await asyncio.sleep(0.5)
            assert inst.state is InstanceState.RUNNING
        finally:
            await kube_client.delete(NODE, None, node_name_for(request.name))
            cluster.kubectl("delete", "clusterrolebinding", sa)
            cluster.kubectl("delete", "clusterrole", sa)
            cluster.kubectl("delete", "serviceaccount", sa, "-n", "default")
    finally:
        await api.close()
