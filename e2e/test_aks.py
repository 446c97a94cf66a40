"""The same kubectl-driven flow with the gpu-provisioner's AKS provider: the unmodified binary talks
through the real Azure SDK (workload-identity credential included) to the ARM emulator, which registers a
kwok Node for each agent pool as AKS would."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from e2e.conftest import System, workspace_manifest
from e2e.harness import REPO
from tests.support.armemulator.credential import FAKE_TOKEN

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class EmulatorProcess:
    def __init__(self, cluster: LocalCluster, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        env_file = workdir / "arm.env"
        self.log = (workdir / "armemulator.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.armemulator",
                f"--kubeconfig={cluster.kubeconfig}",
                f"--workdir={workdir}",
                f"--env-file={env_file}",
                "--create-seconds=2",
                "--delete-seconds=1",
            ],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not env_file.exists() or not env_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ARM emulator did not start: " + (workdir / "armemulator.log").read_text())
            time.sleep(0.2)
        self.env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)

    def pools(self) -> list[dict[str, Any]]:
        e = self.env
        url = (
            f"{e['ARM_ENDPOINT'].rstrip('/')}/subscriptions/{e['ARM_SUBSCRIPTION_ID']}/resourceGroups/"
            f"{e['ARM_RESOURCE_GROUP']}/providers/Microsoft.ContainerService/managedClusters/"
            f"{e['AZURE_CLUSTER_NAME']}/agentPools?api-version=2024-09-01"
        )
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {FAKE_TOKEN}"})
        ctx = ssl.create_default_context(cafile=e["ARM_CA_BUNDLE"])
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return list(json.loads(resp.read())["value"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def pool_machine(pool: dict[str, Any]) -> str | None:
    """The Machine a pool was made for, from the tag the provider sets (ARM nests AgentPool tags in
    properties)."""
    tags = (pool.get("properties") or {}).get("tags") or pool.get("tags") or {}
    return tags.get("kaito-machine")


@pytest.fixture
def arm(cluster: LocalCluster, tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(cluster, tmp_path / "arm")
    try:
        yield emulator
    finally:
        emulator.stop()


def test_workspace_through_aks_agent_pools(
    cluster: LocalCluster, system: System, namespace: str, arm: EmulatorProcess
) -> None:
    system.provisioner(extra=["--provider=aks", "--azure-polling-interval=0.2"], env=arm.env).wait_ready()
    system.workspace_controller().wait_ready()
    name = "phi-3-aks"
    cluster.apply(workspace_manifest(name, namespace, {"apps": f"aks-{uuid.uuid4().hex[:6]}"}))
    system.wait_ready(namespace, name, timeout=180)

    machines = system.machines(name)
    assert len(machines) == 1
    machine = machines[0]
    pools = arm.pools()
    ours = [p for p in pools if pool_machine(p) == machine["metadata"]["name"]]
    assert len(ours) == 1, f"expected one agent pool for the Machine, got {[p['name'] for p in pools]}"
    pool = ours[0]["properties"]
    assert pool["vmSize"] == "Standard_NC6s_v3" and pool["count"] == 1 and pool["mode"] == "User"
    provider_id = machine["status"]["providerID"]
    assert str(provider_id).startswith("azure:///subscriptions/")
    node = cluster.get_json("node", machine["status"]["nodeName"])
    assert node["spec"]["providerID"] == provider_id
    svc = cluster.get_json("service", name, "-n", namespace)
    assert {p["port"] for p in svc["spec"]["ports"]} == {80}

    # Update → rollout, on the node the pool gave it.
    system.roll_config(namespace, name, "tuned-inference")
    system.wait_ready(namespace, name)
    assert len(arm.pools()) == len(pools), "an update must not provision another pool"

    cluster.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=120s")
    cluster.wait_for(
        lambda: not [p for p in arm.pools() if pool_machine(p) == machine["metadata"]["name"]],
        "agent pool deleted",
        timeout=60,
    )
    assert cluster.get_json("node", machine["status"]["nodeName"]) is None
