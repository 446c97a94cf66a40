"""End-to-end fixtures: the shipped manifests installed with kubectl, and both controllers running as
real processes under their own ServiceAccounts. Every test ends with a leak check."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from e2e.harness import (
    PROVISIONER_SA,
    SYSTEM_NAMESPACE,
    WORKSPACE_SA,
    ControllerProcess,
    install_manifests,
    service_account_kubeconfig,
)

KWOK_TOLERATION = "kwok.x-k8s.io/node:NoSchedule"
MACHINE_ANNOTATION = "gpu-provisioner.kaito.sh/machine"


@dataclass
class System:
    cluster: LocalCluster
    workdir: Path
    workspace_kubeconfig: Path
    provisioner_kubeconfig: Path
    processes: list[ControllerProcess] = field(default_factory=list)

    def workspace_controller(
        self, name: str = "workspace-controller", extra: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> ControllerProcess:
        proc = ControllerProcess.create(
            f"{name}-{uuid.uuid4().hex[:4]}",
            "kaito-workspace-controller",
            self.workspace_kubeconfig,
            self.workdir / "logs",
            extra=[
                f"--release-namespace={SYSTEM_NAMESPACE}",
                f"--extra-toleration={KWOK_TOLERATION}",
                *extra,
            ],
            env=env,
        )
        self.processes.append(proc)
        return proc.start()

    def provisioner(
        self, name: str = "gpu-provisioner", extra: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> ControllerProcess:
        proc = ControllerProcess.create(
            f"{name}-{uuid.uuid4().hex[:4]}",
            "gpu-provisioner",
            self.provisioner_kubeconfig,
            self.workdir / "logs",
            extra=[f"--leader-election-namespace={SYSTEM_NAMESPACE}", *extra],
            env=env,
        )
        self.processes.append(proc)
        return proc.start()

    def machines(self, workspace: str | None = None) -> list[dict[str, Any]]:
        args = ["machines.karpenter.sh"]
        if workspace:
            args += ["-l", f"kaito.sh/workspace={workspace}"]
        return list((self.cluster.get_json(*args) or {}).get("items", []))

    def workspace(self, namespace: str, name: str) -> dict[str, Any] | None:
        got = self.cluster.get_json("workspace", name, "-n", namespace)
        return dict(got) if got else None

    def condition(self, namespace: str, name: str, kind: str) -> str | None:
        ws = self.workspace(namespace, name) or {}
        for cond in (ws.get("status") or {}).get("conditions") or []:
            if cond.get("type") == kind:
                return str(cond.get("status"))
        return None

    def roll_config(self, namespace: str, name: str, config_map: str) -> None:
        """Creates ``config_map`` (an inference config), points the workspace's ``inference.config`` at it
        and waits until its Deployment has rolled out the new generation."""
        cluster = self.cluster
        cluster.kubectl(
            "create",
            "configmap",
            config_map,
            "-n",
            namespace,
            "--from-literal=inference_config.yaml=max_new_tokens: 64\n",
        )
        generation = cluster.get_json("deployment", name, "-n", namespace)["metadata"]["generation"]
        patch = json.dumps({"inference": {"config": config_map}})
        cluster.kubectl("patch", "workspace", name, "-n", namespace, "--type=merge", "-p", patch)
        cluster.wait_for(
            lambda: (
                (d := cluster.get_json("deployment", name, "-n", namespace))
                and d["metadata"]["generation"] > generation
                and d["status"].get("updatedReplicas") == 1
                and d["status"].get("readyReplicas") == 1
            ),
            f"deployment {namespace}/{name} rolled out with ConfigMap {config_map}",
            timeout=90,
        )

    def wait_ready(self, namespace: str, name: str, timeout: float = 120) -> None:
        self.cluster.wait_for(
            lambda: self.condition(namespace, name, "WorkspaceReady") == "True",
            f"workspace {namespace}/{name} WorkspaceReady",
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def installed(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    install_manifests(cluster, "local")
    workdir = tmp_path_factory.mktemp("e2e")
    ws = service_account_kubeconfig(cluster, WORKSPACE_SA, workdir / "workspace-controller.kubeconfig")
    gp = service_account_kubeconfig(cluster, PROVISIONER_SA, workdir / "gpu-provisioner.kubeconfig")
    return workdir, ws, gp


def leftovers(cluster: LocalCluster, namespace: str, machine_names: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind in ("workspaces", "deployments", "statefulsets", "jobs", "services"):
        items = (cluster.get_json(kind, "-n", namespace) or {}).get("items", [])
        if items:
            found[kind] = [i["metadata"]["name"] for i in items]
    machines = [
        m["metadata"]["name"]
        for m in (cluster.get_json("machines.karpenter.sh") or {}).get("items", [])
        if m["metadata"]["name"] in machine_names
    ]
    if machines:
        found["machines"] = machines
    nodes = [
        n["metadata"]["name"]
        for n in (cluster.get_json("nodes") or {}).get("items", [])
        if (n["metadata"].get("annotations") or {}).get(MACHINE_ANNOTATION) in machine_names
        or (n["metadata"].get("labels") or {}).get("kaito.sh/workspacenamespace") == namespace
    ]
    if nodes:
        found["nodes"] = nodes
    return found


@pytest.fixture
def system(cluster: LocalCluster, installed: tuple[Path, Path, Path], namespace: str) -> Iterator[System]:
    """Controllers started by a test are stopped at its end; then nothing the test made may be left:
    every workspace is deleted with the controllers still running, and its Machines and nodes must go."""
    workdir, ws_kc, gp_kc = installed
    sys_ = System(cluster=cluster, workdir=workdir, workspace_kubeconfig=ws_kc, provisioner_kubeconfig=gp_kc)
    try:
        yield sys_
        made = {
            m["metadata"]["name"]
            for m in sys_.machines()
            if (m["metadata"].get("labels") or {}).get("kaito.sh/workspacenamespace") == namespace
        }
        if any(p.alive() for p in sys_.processes):
            cluster.kubectl("delete", "workspaces", "--all", "-n", namespace, "--wait=false")
            cluster.wait_for(lambda: not leftovers(cluster, namespace, made), "no leftovers", timeout=90)
        left = leftovers(cluster, namespace, made)
        assert not left, f"leaked after the test: {json.dumps(left)}"
    finally:
        for proc in sys_.processes:
            proc.stop()


def workspace_manifest(
    name: str,
    namespace: str,
    selector: dict[str, str],
    preset: str = "phi-3-mini-4k-instruct",
    instance_type: str = "Standard_NC6s_v3",
    **extra: object,
) -> dict[str, object]:
    body: dict[str, object] = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {"instanceType": instance_type, "labelSelector": {"matchLabels": selector}},
        "inference": {"preset": {"name": preset}},
    }
    body.update(extra)
    return body
