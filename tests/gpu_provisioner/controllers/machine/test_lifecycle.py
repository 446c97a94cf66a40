"""Unit tests of the Machine lifecycle over in-memory fakes (no cluster, no cloud)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from gpu_provisioner.cloudprovider.api import QuotaExceededError, ThrottledError
from gpu_provisioner.controllers.machine import Deps, LifecycleSettings, MachineLifecycle
from gpu_provisioner.controllers.machine.launch import ANNOTATION_FINAL_ERROR_GENERATION
from gpu_provisioner.controllers.machine.request import node_request_for
from gpu_provisioner.controllers.operations import OperationTracker
from gpu_provisioner.metrics import ProvisionerMetrics
from kaito.runtime.objects import conditions_of, find_condition
from tests.gpu_provisioner.fakes import FakeCloud, FakeKube, machine

SETTINGS = LifecycleSettings(poll_interval=0.01, retry_base=0.01, retry_max=0.05, registration_ttl=900)


def make(cloud_kube: bool = True) -> tuple[FakeKube, FakeCloud, MachineLifecycle, ProvisionerMetrics]:
    kube = FakeKube()
    cloud = FakeCloud(kube=kube if cloud_kube else None)
    metrics = ProvisionerMetrics(CollectorRegistry(), provider="fake")
    deps = Deps(kube=kube, provider=cloud, tracker=OperationTracker(60), metrics=metrics, settings=SETTINGS)
    return kube, cloud, MachineLifecycle(deps), metrics


async def drive(lc: MachineLifecycle, name: str, passes: int = 12) -> float | None:
    result = None
    for _ in range(passes):
        result = await lc.reconcile(name)
        await asyncio.sleep(0.005)
    return result


def cond(kube: FakeKube, name: str, t: str) -> dict[str, str]:
    c = find_condition(conditions_of(kube.machines[name]), t)
    assert c is not None, t
    return dict(c)


def count(metrics: ProvisionerMetrics, metric: str, **labels: str) -> float:
    v = metrics.registry.get_sample_value(metric, labels)
    return v or 0.0


async def test_machine_becomes_ready_and_node_is_tied_to_it() -> None:
    kube, cloud, lc, metrics = make()
    kube.add_machine(machine("ws1"))
    await drive(lc, "ws1")
    m = kube.machines["ws1"]
    assert m["metadata"]["finalizers"] == ["karpenter.sh/termination"]
    assert m["status"]["providerID"] == "fake:///ws1"
    assert m["status"]["nodeName"] == "node-ws1"
    for t in ("MachineLaunched", "MachineRegistered", "MachineInitialized", "Ready"):
        assert cond(kube, "ws1", t)["status"] == "True"
    assert m["metadata"]["annotations"]["karpenter.sh/linked"] == "fake:///ws1"
    assert m["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "Standard_NC6s_v3"
    node = kube.nodes["node-ws1"]
    assert node["metadata"]["labels"]["kaito.sh/workspace"] == "demo"
    assert node["metadata"]["labels"]["karpenter.sh/registered"] == "true"
    assert node["metadata"]["labels"]["karpenter.sh/initialized"] == "true"
    assert node["metadata"]["ownerReferences"][0]["name"] == "ws1"
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert [c for c in cloud.calls if c[0] == "create"] == [("create", "ws1")]
    assert count(metrics, "karpenter_machines_created_total", provider="fake") == 1
    assert count(metrics, "karpenter_machines_initialized_total", provider="fake") == 1
    # Steady state: no more writes.
    rv = m["metadata"]["resourceVersion"]
    await drive(lc, "ws1", 3)
    assert kube.machines["ws1"]["metadata"]["resourceVersion"] == rv


async def test_unmanaged_machine_is_ignored() -> None:
    kube, cloud, lc, _ = make()
    m = machine("other")
    m["metadata"]["labels"] = {}
    kube.add_machine(m)
    await drive(lc, "other", 2)
    assert cloud.calls == []
    assert "finalizers" not in kube.machines["other"]["metadata"]


async def test_quota_error_is_final_and_shows_cloud_message() -> None:
    kube, cloud, lc, metrics = make()
    cloud.create_errors = [
        QuotaExceededError("Operation could not be completed as it results in exceeding quota")
    ]
    kube.add_machine(machine("ws2"))
    assert await drive(lc, "ws2") is None
    c = cond(kube, "ws2", "MachineLaunched")
    assert c["status"] == "False"
    assert c["reason"] == "QuotaExceeded"
    assert "exceeding quota" in c["message"]
    assert cond(kube, "ws2", "Ready")["message"] == c["message"]
    assert kube.machines["ws2"]["metadata"]["annotations"][ANNOTATION_FINAL_ERROR_GENERATION] == "1"
    assert [c for c in cloud.calls if c[0] == "create"] == [("create", "ws2")]
    assert any(e[2] == "LaunchFailed" for e in kube.events)
    labels = {"provider": "fake", "error": "QuotaExceeded", "final": "true"}
    assert count(metrics, "gpu_provisioner_launch_failures_total", **labels) == 1
    # A spec change (new generation) retries.
    kube.machines["ws2"]["metadata"]["generation"] = 2
    await drive(lc, "ws2")
    assert cond(kube, "ws2", "Ready")["status"] == "True"


async def test_throttling_delays_but_does_not_duplicate() -> None:
    kube, cloud, lc, metrics = make()
    cloud.create_errors = [ThrottledError("429", retry_after=0.01) for _ in range(3)]
    kube.add_machine(machine("ws3"))
    await drive(lc, "ws3", 30)
    assert cond(kube, "ws3", "Ready")["status"] == "True"
    assert len(cloud.instances) == 1
    assert count(metrics, "gpu_provisioner_operation_retries_total", provider="fake", operation="create") == 3


async def test_create_runs_once_while_in_flight() -> None:
    kube, cloud, lc, _ = make()
    cloud.create_delay = 0.1
    kube.add_machine(machine("ws4"))
    for _ in range(10):
        await lc.reconcile("ws4")
        await asyncio.sleep(0)
    assert [c for c in cloud.calls if c[0] == "create"] == [("create", "ws4")]
    assert cond(kube, "ws4", "MachineLaunched")["status"] == "Unknown"
    await asyncio.sleep(0.15)
    await drive(lc, "ws4")
    assert cond(kube, "ws4", "Ready")["status"] == "True"


async def test_deletion_removes_node_and_instance_then_finalizer() -> None:
    kube, cloud, lc, metrics = make()
    kube.add_machine(machine("ws5"))
    await drive(lc, "ws5")
    await kube.delete_machine("ws5")
    await drive(lc, "ws5", 10)
    assert "ws5" not in kube.machines
    assert kube.nodes == {}
    assert cloud.instances == {}
    assert count(metrics, "karpenter_machines_terminated_total", provider="fake", reason="deleted") == 1


async def test_deletion_mid_create_still_deletes_cloud_capacity() -> None:
    kube, cloud, lc, _ = make(cloud_kube=False)
    cloud.create_delay = 0.05
    kube.add_machine(machine("ws6"))
    await lc.reconcile("ws6")
    await asyncio.sleep(0.1)  # the create completed in the cloud, but we never collected it
    await kube.delete_machine("ws6")
    await drive(lc, "ws6", 10)
    assert "ws6" not in kube.machines
    assert cloud.instances == {}


async def test_liveness_deletes_unregistered_machine() -> None:
    kube, cloud, lc, _ = make(cloud_kube=False)  # no node ever joins
    kube.add_machine(machine("ws7"))
    await drive(lc, "ws7", 4)
    assert cond(kube, "ws7", "MachineRegistered")["reason"] == "NodeNotFound"
    later = datetime.now(UTC) + timedelta(seconds=SETTINGS.registration_ttl + 5)
    lc._clock = lambda: later
    await drive(lc, "ws7", 6)
    assert "ws7" not in kube.machines
    assert cloud.instances == {}
    assert any(e[2] == "RegistrationTimeout" for e in kube.events)


def test_request_converts_storage_to_gib_and_taints() -> None:
    req = node_request_for(machine("ws8"))
    assert req.os_disk_gb == 120
    assert req.instance_type == "Standard_NC6s_v3"
    assert req.taints[0].to_aks() == "sku=gpu:NoSchedule"
    assert req.labels["karpenter.sh/provisioner-name"] == "default"


def test_request_without_instance_type_is_invalid() -> None:
    m = machine("ws9")
    m["spec"]["requirements"] = []
    from gpu_provisioner.cloudprovider.api import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="no requirement for instance type"):
        node_request_for(m)


async def test_stale_cache_after_own_write_waits_instead_of_repeating_work() -> None:
    import copy

    from tests.gpu_provisioner.fakes import ready_node

    kube, _cloud, lc, metrics = make(cloud_kube=False)
    kube.add_machine(machine("ws10"))
    await drive(lc, "ws10", 4)
    assert cond(kube, "ws10", "MachineRegistered")["reason"] == "NodeNotFound"
    kube.add_node(ready_node("node-ws10", "fake:///ws10"))
    before = copy.deepcopy(kube.machines["ws10"])
    await lc.reconcile("ws10")
    assert count(metrics, "karpenter_machines_registered_total", provider="fake") == 1
    # An informer that has not yet seen that write serves the older object again.
    kube.machines["ws10"] = before
    assert await lc.reconcile("ws10") == 0.2
    assert count(metrics, "karpenter_machines_registered_total", provider="fake") == 1


async def test_invalid_machine_fails_without_calling_the_cloud() -> None:
    kube, cloud, lc, _ = make()
    m = machine("ws11")
    m["spec"]["requirements"] = []
    kube.add_machine(m)
    await drive(lc, "ws11", 3)
    c = cond(kube, "ws11", "MachineLaunched")
    assert (c["status"], c["reason"]) == ("False", "InvalidRequest")
    assert "no requirement for instance type" in c["message"]
    assert cloud.calls == []


async def test_final_delete_error_keeps_finalizer_conflict_releases() -> None:
    from gpu_provisioner.cloudprovider.api import InstanceConflictError, UnauthorizedError

    kube, cloud, lc, _ = make()
    kube.add_machine(machine("ws12"))
    await drive(lc, "ws12")
    cloud.delete_errors = [UnauthorizedError("AuthorizationFailed: no permission to delete")]
    await kube.delete_machine("ws12")
    await drive(lc, "ws12", 3)
    assert "ws12" in kube.machines, "the finalizer must stay while the cloud capacity may still exist"
    assert any(e[2] == "TerminationFailed" for e in kube.events)
    # Said on the Machine, where the Workspace waiting on it reads why (its WorkspaceDeleting condition).
    terminated = cond(kube, "ws12", "MachineTerminated")
    assert terminated["status"] == "False" and terminated["reason"] == "Unauthorized"
    assert "no permission to delete" in terminated["message"]
    cloud.delete_errors = [InstanceConflictError("pool belongs to someone else")]
    await drive(lc, "ws12", 15)
    assert "ws12" not in kube.machines
    assert any(e[2] == "TerminationSkipped" for e in kube.events)


async def test_ready_mirrors_the_blocking_condition_and_keeps_transition_time() -> None:
    kube, _cloud, lc, _ = make(cloud_kube=False)
    kube.add_machine(machine("ws13"))
    await drive(lc, "ws13", 4)
    ready = cond(kube, "ws13", "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeNotFound")
    first = cond(kube, "ws13", "MachineRegistered")["lastTransitionTime"]
    rv = kube.machines["ws13"]["metadata"]["resourceVersion"]
    await asyncio.sleep(1.1)
    await drive(lc, "ws13", 2)
    assert cond(kube, "ws13", "MachineRegistered")["lastTransitionTime"] == first
    assert kube.machines["ws13"]["metadata"]["resourceVersion"] == rv, "an unchanged status is not rewritten"
    await kube.delete_machine("ws13")
    await drive(lc, "ws13", 6)
    assert "ws13" not in kube.machines


async def test_lost_node_makes_ready_false_without_write_loop() -> None:
    kube, _cloud, lc, _ = make()
    kube.add_machine(machine("ws14"))
    await drive(lc, "ws14")
    assert cond(kube, "ws14", "Ready")["status"] == "True"
    del kube.nodes["node-ws14"]
    await drive(lc, "ws14", 2)
    ready = cond(kube, "ws14", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NodeNotFound")
    rv = kube.machines["ws14"]["metadata"]["resourceVersion"]
    await drive(lc, "ws14", 3)
    assert kube.machines["ws14"]["metadata"]["resourceVersion"] == rv


async def test_retryable_launch_failures_are_bounded() -> None:
    from gpu_provisioner.cloudprovider.api import RetryableError

    kube = FakeKube()
    cloud = FakeCloud(kube=kube)
    settings = LifecycleSettings(poll_interval=0.01, retry_base=0.01, retry_max=0.02, max_launch_retries=3)
    metrics = ProvisionerMetrics(CollectorRegistry(), provider="fake")
    lc = MachineLifecycle(
        Deps(kube=kube, provider=cloud, tracker=OperationTracker(60), metrics=metrics, settings=settings)
    )
    cloud.create_errors = [RetryableError("500 InternalServerError") for _ in range(10)]
    kube.add_machine(machine("ws15"))
    await drive(lc, "ws15", 20)
    c = cond(kube, "ws15", "MachineLaunched")
    assert (c["status"], c["reason"]) == ("False", "RetriesExhausted")
    assert "last error: 500 InternalServerError" in c["message"]
    assert len([x for x in cloud.calls if x[0] == "create"]) == 4
