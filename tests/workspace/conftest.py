"""Cluster fixtures for the workspace controller: CRDs, the release namespace's templates, the controller
running in-process against the real local control plane, and a simulated provisioner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from kaito.catalog import load_catalog
from kaito.runtime import CacheOptions, Manager, ManagerOptions
from kaito.runtime.client import Client
from kaito.workspace import names
from kaito.workspace.catalog_source import CatalogPresets
from kaito.workspace.config import ControllerConfig
from kaito.workspace.controller import cache_options, setup_workspace_controller
from kaito.workspace.kinds import WORKSPACE
from kaito.workspace.metrics import WorkspaceMetrics
from kaito.workspace.reconciler import WorkspaceReconciler

from .provisioner_sim import ProvisionerSim

REPO = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "kaito-workspace-test"
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"}
TRAINING_CONFIG = """training_config:
  ModelConfig: {torch_dtype: bfloat16, local_files_only: true, device_map: auto}
  QuantizationConfig: {load_in_4bit: %s}
  LoraConfig: {r: 8, lora_alpha: 8, lora_dropout: 0.0}
  TrainingArguments: {output_dir: /mnt/results, save_strategy: "no", per_device_train_batch_size: 1}
  DataCollator: {mlm: true}
  DatasetConfig: {shuffle_dataset: true, train_test_split: 1}
"""


def _install_crds(cluster: LocalCluster) -> None:
    deadline = time.monotonic() + 600
    crd_dir = REPO / "manifests" / "crds"
    # The CRDs are the API engineer's; they may land after this suite starts.
    while (
        not (crd_dir / "kaito.sh_workspaces.yaml").exists()
        or not (crd_dir / "karpenter.sh_machines.yaml").exists()
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("manifests/crds/ never appeared")
        time.sleep(5)
    for path in ("kaito.sh_workspaces.yaml", "karpenter.sh_machines.yaml"):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd_dir / path))
    for crd in ("workspaces.kaito.sh", "machines.karpenter.sh"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def _install_templates(cluster: LocalCluster) -> None:
    cluster.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)
    for name, four_bit in (("lora-params-template", "false"), ("qlora-params-template", "true")):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": RELEASE_NAMESPACE},
                "data": {"training_config.yaml": TRAINING_CONFIG % four_bit},
            }
        )


@dataclass
class RunningController:
    manager: Manager
    reconciler: WorkspaceReconciler
    sim: ProvisionerSim
    user_agent_marker: str = names.FIELD_MANAGER


def controller_writes(
    cluster: LocalCluster, after: int = 0, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Write requests the controller sent, from the apiserver audit log (entries after index ``after``;
    only to ``namespace`` when given: other suites' workspaces may still be finishing elsewhere)."""
    return [
        e
        for i, e in enumerate(cluster.audit_events())
        if i >= after
        and names.FIELD_MANAGER in str(e.get("userAgent", ""))
        and e.get("verb") in ("create", "update", "patch", "delete", "deletecollection")
        and (namespace is None or (e.get("objectRef") or {}).get("namespace") == namespace)
    ]


def audit_position(cluster: LocalCluster) -> int:
    return sum(1 for _ in cluster.audit_events())


# Module scope: it watches every namespace, so it must be gone before other suites run their own controllers.
@pytest.fixture(scope="module")
async def workspace_controller(cluster: LocalCluster) -> AsyncIterator[RunningController]:
    await asyncio.to_thread(_install_crds, cluster)
    await asyncio.to_thread(_install_templates, cluster)
    manager = Manager(
        ManagerOptions(
            kubeconfig=str(cluster.kubeconfig),
            metrics_bind_address="0",
            health_probe_bind_address="0",
            leader_elect=False,
            qps=200,
            burst=400,
            field_manager=names.FIELD_MANAGER,
            cache=CacheOptions(by_kind=cache_options()),
            handle_signals=False,
        )
    )
    config = ControllerConfig(
        preset_registry="registry.test/kaito",
        release_namespace=RELEASE_NAMESPACE,
        extra_tolerations=(KWOK_TOLERATION,),
        max_concurrent_reconciles=16,
    )
    metrics = WorkspaceMetrics(manager.metrics.registry, lambda: manager.cache.list(WORKSPACE))
    _, reconciler = setup_workspace_controller(
        manager,
        manager.client,
        CatalogPresets(load_catalog()),
        config,
        manager.event_recorder(names.EVENT_SOURCE),
        metrics,
    )
    sim_client = await Client.from_kubeconfig(
        str(cluster.kubeconfig), qps=100, burst=200, field_manager="provisioner-sim"
    )
    sim = ProvisionerSim(cluster, sim_client)
    sim.start()
    task = asyncio.create_task(manager.run(), name="workspace-manager")
    try:
        yield RunningController(manager, reconciler, sim)
    finally:
        # Let the controller finish deleting what the tests' namespaces took with them, then check
        # that no Machine and no simulated node is left behind.
        deadline = time.monotonic() + 120
        leftovers: list[str] = []
        while time.monotonic() < deadline:
            machines = cluster.get_json("machines.karpenter.sh") or {"items": []}
            leftovers = [m["metadata"]["name"] for m in machines["items"]] + sorted(sim.nodes)
            if not leftovers:
                break
            await asyncio.sleep(1)
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)
        await sim.stop()
        await sim_client.close()
        assert not leftovers, f"leaked machines/nodes: {leftovers}"
