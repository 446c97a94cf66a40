"""Failures an operator lives through: the leader dies mid-provisioning, the apiserver restarts mid-flow.
Neither may leave a duplicate Machine or node behind."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest

from e2e.cluster import LocalCluster
from e2e.conftest import System, workspace_manifest
from e2e.harness import ControllerProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _leader(procs: list[ControllerProcess], what: str, cluster: LocalCluster) -> ControllerProcess:
    found = cluster.wait_for(
        lambda: [p for p in procs if p.alive() and p.is_leader()], f"a {what} leader", timeout=60
    )
    assert len(found) == 1, f"two {what} leaders at once"
    leader: ControllerProcess = found[0]
    return leader


def _assert_one_each(cluster: LocalCluster, system: System, names: list[str]) -> None:
    for name in names:
        assert len(system.machines(name)) == 1, f"{name} has {len(system.machines(name))} Machines"
    nodes = (cluster.get_json("nodes") or {}).get("items", [])
    per_machine = Counter(
        (n["metadata"].get("annotations") or {}).get("gpu-provisioner.kaito.sh/machine") for n in nodes
    )
    for name in names:
        for machine in system.machines(name):
            assert per_machine[machine["metadata"]["name"]] == 1


def test_leader_failover_mid_provisioning(cluster: LocalCluster, system: System, namespace: str) -> None:
    provisioners = [
        system.provisioner(f"gp-{i}", extra=["--provider=local", "--local-create-delay=6s"]) for i in range(2)
    ]
    controllers = [system.workspace_controller(f"wc-{i}") for i in range(2)]
    for p in provisioners + controllers:
        # readyz is about caches, so a standby replica is ready too.
        p.wait_ready()
    gp_leader = _leader(provisioners, "gpu-provisioner", cluster)
    wc_leader = _leader(controllers, "workspace-controller", cluster)

    tag = uuid.uuid4().hex[:6]
    names = [f"ws-{i}" for i in range(3)]
    cluster.apply([workspace_manifest(n, namespace, {"apps": f"{tag}-{n}"}) for n in names])
    cluster.wait_for(lambda: all(system.machines(n) for n in names), "Machines created", timeout=60)
    # Nodes take 6 s to come up: the provisioner dies mid-create, the workspace controller mid-flow.
    gp_leader.kill()
    wc_leader.kill()
    start = time.monotonic()
    standby_gp = next(p for p in provisioners if p is not gp_leader)
    standby_wc = next(p for p in controllers if p is not wc_leader)
    cluster.wait_for(
        lambda: standby_gp.is_leader() and standby_wc.is_leader(), "standbys take over", timeout=30
    )
    assert time.monotonic() - start < 20 + 5, "handover took longer than the lease allows"
    for n in names:
        system.wait_ready(namespace, n, timeout=120)
    _assert_one_each(cluster, system, names)


def test_apiserver_restart_mid_flow(cluster: LocalCluster, system: System, namespace: str) -> None:
    system.provisioner(extra=["--provider=local", "--local-create-delay=2s"]).wait_ready()
    controller = system.workspace_controller()
    controller.wait_ready()
    tag = uuid.uuid4().hex[:6]
    names = [f"ws-{i}" for i in range(3)]
    cluster.apply([workspace_manifest(n, namespace, {"apps": f"{tag}-{n}"}) for n in names])
    cluster.wait_for(lambda: any(system.machines(n) for n in names), "first Machine", timeout=60)
    cluster.restart_apiserver()
    for n in names:
        system.wait_ready(namespace, n, timeout=150)
    _assert_one_each(cluster, system, names)
    assert controller.alive(), "the controller must ride out an apiserver restart, not crash"
