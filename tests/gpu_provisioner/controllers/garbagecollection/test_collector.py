"""Unit tests of garbage collection over in-memory fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from gpu_provisioner.cloudprovider.api import Instance, InstanceState
from gpu_provisioner.controllers.garbagecollection import GarbageCollector
from gpu_provisioner.controllers.machine import Deps, LifecycleSettings, MachineLifecycle
from gpu_provisioner.controllers.operations import OperationTracker
from gpu_provisioner.metrics import ProvisionerMetrics
from tests.gpu_provisioner.fakes import FakeCloud, FakeKube, machine, ready_node

SETTINGS = LifecycleSettings(poll_interval=0.01, gc_grace_period=30)


def make() -> tuple[FakeKube, FakeCloud, Deps]:
    kube = FakeKube()
    cloud = FakeCloud(kube=kube)
    metrics = ProvisionerMetrics(CollectorRegistry(), provider="fake")
    return (
        kube,
        cloud,
        Deps(kube=kube, provider=cloud, tracker=OperationTracker(60), metrics=metrics, settings=SETTINGS),
    )


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_orphan_instance_collected_after_grace() -> None:
    kube, cloud, deps = make()
    cloud.instances["wsgone"] = Instance(
        name="wsgone", machine_name="wsgone", provider_id="fake:///wsgone", instance_type="x",
        state=InstanceState.RUNNING, created_at=datetime.now(UTC),
    )  # fmt: skip
    kube.add_node(ready_node("node-wsgone", "fake:///wsgone"))
    gc = GarbageCollector(deps)
    await gc.run_once()
    assert "wsgone" in cloud.instances  # within grace
    gc._clock = lambda: later(60)
    await gc.run_once()
    await asyncio.sleep(0.01)
    assert cloud.instances == {}
    assert kube.nodes == {}
    assert (
        deps.metrics.registry.get_sample_value(
            "gpu_provisioner_garbage_collected_total", {"provider": "fake", "kind": "instance"}
        )
        == 1
    )
    assert any(e[0] == "wsgone" and e[2] == "GarbageCollected" for e in kube.events)


async def test_machine_whose_instance_vanished_is_deleted() -> None:
    kube, cloud, deps = make()
    kube.add_machine(machine("ws1"))
    lc = MachineLifecycle(deps)
    for _ in range(8):
        await lc.reconcile("ws1")
        await asyncio.sleep(0.005)
    assert kube.machines["ws1"]["status"]["providerID"]
    del cloud.instances["ws1"]
    gc = GarbageCollector(deps, clock=lambda: later(60))
    await gc.run_once()
    assert kube.machines["ws1"]["metadata"].get("deletionTimestamp")
    assert deps.termination_reasons["ws1"] == "garbage_collected"


async def test_orphan_node_collected_but_live_ones_kept() -> None:
    kube, _cloud, deps = make()
    kube.add_machine(machine("ws1"))
    lc = MachineLifecycle(deps)
    for _ in range(8):
        await lc.reconcile("ws1")
        await asyncio.sleep(0.005)
    orphan = ready_node("orphan", "fake:///nothing")
    orphan["metadata"]["ownerReferences"] = [
        {"apiVersion": "karpenter.sh/v1alpha5", "kind": "Machine", "name": "wsold", "uid": "u-old"}
    ]
    kube.add_node(orphan)
    pooled = ready_node("pooled", "fake:///other")
    pooled["metadata"]["labels"] = {"karpenter.sh/provisioner-name": "default", "agentpool": "wsx"}
    kube.add_node(pooled)
    foreign = ready_node("foreign", "fake:///foreign")
    kube.add_node(foreign)
    gc = GarbageCollector(deps, clock=lambda: later(60))
    await gc.run_once()
    assert set(kube.nodes) == {"node-ws1", "foreign"}
    assert "ws1" in kube.machines and not kube.machines["ws1"]["metadata"].get("deletionTimestamp")


async def test_failed_list_collects_nothing() -> None:
    kube, cloud, deps = make()

    async def broken() -> list[Instance]:
        raise RuntimeError("cloud down")

    cloud.list = broken  # type: ignore[method-assign]
    kube.add_node(ready_node("n", "fake:///n"))
    await GarbageCollector(deps, clock=lambda: later(600)).run_once()
    assert "n" in kube.nodes
