"""The real ``gpu-provisioner`` binary as a separate process: SIGKILLed in the middle of creating an
agent pool, restarted, and the Machine still ends with exactly one pool. The AKS provider
authenticates to the ARM emulator with workload identity (federated token file), as in a pod."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from kaito.runtime.client import Client
from tests.gpu_provisioner.harness import (
    arm_on_cluster,
    condition,
    get_json,
    install_machine_crd,
    kubectl,
    machine_manifest,
    machine_name,
    until,
)
from tests.support.armemulator import ArmEmulator, EmulatorSettings

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
BINARY = Path(sys.executable).with_name("gpu-provisioner")


@pytest.fixture
async def arm(cluster: LocalCluster, kube_client: Client) -> AsyncIterator[ArmEmulator]:
    await install_machine_crd(cluster)
    async with arm_on_cluster(
        kube_client, EmulatorSettings(cluster_hash="55667788", create_duration_s=6.0, delete_duration_s=0.2)
    ) as emulator:
        yield emulator


def provisioner_env(arm: ArmEmulator, token_file: Path) -> dict[str, str]:
    s = arm.settings
    token_file.write_text(s.federated_token)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ARM_"))}
    env.update(
        {
            # Workload identity, as the webhook injects it into the pod.
            "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
            "AZURE_TENANT_ID": "22222222-2222-2222-2222-222222222222",
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
            "AZURE_AUTHORITY_HOST": arm.url,
            # The upstream chart's variables.
            "ARM_SUBSCRIPTION_ID": s.subscription_id,
            "ARM_RESOURCE_GROUP": s.resource_group,
            "AZURE_CLUSTER_NAME": s.cluster_name,
            "LOCATION": s.location,
            "ARM_ENDPOINT": arm.url,
            "ARM_CA_BUNDLE": arm.ca_path,
        }
    )
    return env


async def start_binary(cluster: LocalCluster, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    args = [
        "--provider=aks",
        f"--kubeconfig={cluster.kubeconfig}",
        "--metrics-bind-address=0",
        "--health-probe-bind-address=0",
        "--leader-elect=true",
        "--leader-election-namespace=default",
        "--leader-election-id=gpu-provisioner-binary-test",
        "--log-format=json",
        "--gc-grace-period=5s",
        "--gc-interval=2s",
        "--azure-polling-interval=0.2",
        "--machine-selector=kaito.sh/workspace=pv-binary",
    ]
    out = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(str(BINARY), *args, env=env, stdout=out, stderr=out)
    finally:
        out.close()


async def _true(value: bool) -> bool:
    return value


async def test_sigkill_mid_create_then_restart_yields_one_pool(
    cluster: LocalCluster, arm: ArmEmulator, tmp_path: Path
) -> None:
    env = provisioner_env(arm, tmp_path / "sa-token")
    log = tmp_path / "provisioner.log"
    name = machine_name()
    procs: list[asyncio.subprocess.Process] = []
    try:
        first = await start_binary(cluster, env, log)
        procs.append(first)
        cluster.apply(machine_manifest(name, workspace="pv-binary"))
        await until(lambda: _true(name in arm.pools), "pool creation started", timeout=60)
        assert arm.pools[name].state == "Creating"
        first.send_signal(signal.SIGKILL)
        await first.wait()

        second = await start_binary(cluster, env, log)
        procs.append(second)

        async def ready() -> dict[str, Any] | None:
            m = await get_json(cluster, "machine", name)
            c = condition(m, "Ready")
            return m if c and c["status"] == "True" else None

        # The dead leader's lease must expire first (15 s), then the create is adopted.
        await until(ready, f"machine {name} Ready after restart", timeout=120)
        assert arm.pools_created == 1
        assert arm.max_pools == 1
        assert arm.token_requests >= 1  # the workload-identity exchange really happened

        await kubectl(cluster, "delete", "machine", name, "--wait=false")
        await until(lambda: _gone(cluster, name), f"machine {name} gone", timeout=90)
        assert arm.pools == {}
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 60) == 0
    except BaseException:
        print(log.read_text()[-8000:] if log.exists() else "no log")
        raise
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        if await get_json(cluster, "machine", name) is not None:
            # Do not strand the Machine behind our finalizer if the test failed early.
            await kubectl(
                cluster, "patch", "machine", name, "--type=merge", "-p", '{"metadata":{"finalizers":[]}}'
            )
            await kubectl(cluster, "delete", "machine", name, "--ignore-not-found", "--wait=false")
        for pool in list(arm.pools):
            await arm.vanish(pool)


async def _gone(cluster: LocalCluster, name: str) -> bool:
    return await get_json(cluster, "machine", name) is None
