"""Helpers for cluster tests: run the provisioner in-process and wait without blocking its loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from e2e.cluster import LocalCluster
from gpu_provisioner.cmd import App, build_app
from gpu_provisioner.options import parse_options
from kaito.runtime.client import Client
from tests.support.armemulator import ArmEmulator, EmulatorSettings, KubeNodeRegistrar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
MACHINE_CRD = REPO / "manifests" / "crds" / "karpenter.sh_machines.yaml"


def machine_name() -> str:
    # KAITO's naming: "ws" + 9 hex, a valid AKS pool name.
    return "ws" + uuid.uuid4().hex[:9]


def machine_manifest(
    name: str, instance_type: str = "Standard_NC6s_v3", workspace: str = "pv-test"
) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Machine",
        "metadata": {
            "name": name,
            "labels": {"kaito.sh/workspace": workspace, "kaito.sh/workspacenamespace": "default"},
        },
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]},
                {"key": "karpenter.sh/provisioner-name", "operator": "In", "values": ["default"]},
                {"key": "kaito.sh/machine-type", "operator": "In", "values": ["gpu"]},
            ],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": "120Gi"}},
            "machineTemplateRef": {"name": name},
        },
    }


async def kubectl(cluster: LocalCluster, *args: str, check: bool = True, input: str | None = None) -> str:
    proc = await asyncio.to_thread(cluster.kubectl, *args, check=check, input=input)
    return proc.stdout


async def get_json(cluster: LocalCluster, *args: str) -> Any:
    return await asyncio.to_thread(cluster.get_json, *args)


async def until(
    probe: Callable[[], Awaitable[T]],
    what: str,
    timeout: float = 60.0,  # noqa: ASYNC109
    interval: float = 0.5,
) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def condition(obj: dict[str, Any] | None, cond_type: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == cond_type:
            return dict(c)
    return None


async def install_machine_crd(cluster: LocalCluster) -> None:
    await kubectl(cluster, "apply", "--server-side", "-f", str(MACHINE_CRD))
    await kubectl(
        cluster, "wait", "--for=condition=Established", "crd/machines.karpenter.sh", "--timeout=60s"
    )


@contextlib.asynccontextmanager
async def arm_on_cluster(
    kube_client: Client, settings: EmulatorSettings, idle_timeout: float = 30.0
) -> AsyncIterator[ArmEmulator]:
    """The ARM emulator registering its agent pools' nodes in the cluster; on the way out, once it is idle,
    fails if any pool or node is left (a leaked GPU node costs money)."""
    registrar = KubeNodeRegistrar(kube_client)
    emulator = ArmEmulator(settings, nodes=registrar)
    await emulator.start()
    try:
        yield emulator
        await emulator.wait_idle(idle_timeout)
        assert emulator.pools == {}, f"leaked agent pools: {sorted(emulator.pools)}"
        assert registrar.names == set(), f"leaked nodes: {sorted(registrar.names)}"
    finally:
        await emulator.stop()


@contextlib.asynccontextmanager
async def running_provisioner(
    cluster: LocalCluster,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[App]:
    """The real binary's wiring (build_app), in this process, stopped and closed on exit."""
    args = [
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--health-probe-bind-address",
        "127.0.0.1:0",
        "--leader-election-namespace",
        "default",
        "--log-format",
        "console",
        *extra_args,
    ]
    opts = parse_options(args, env={**os.environ, **(env or {})})
    app = await build_app(opts, handle_signals=False, **overrides)
    task = asyncio.create_task(app.manager.run(), name="gpu-provisioner")
    try:
        yield app
    finally:
        app.manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)
        await app.close()
