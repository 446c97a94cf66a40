"""The kubectl-driven lifecycle, end to end, with both controllers as processes under their own
ServiceAccounts and the gpu-provisioner's local provider: apply → Machines → nodes → workloads → Ready;
update → rollout; delete → nothing left."""

from __future__ import annotations

import uuid

import pytest

from e2e.cluster import LocalCluster
from e2e.conftest import System, workspace_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_inference_workspace_lifecycle(cluster: LocalCluster, system: System, namespace: str) -> None:
    system.provisioner(extra=["--provider=local"]).wait_ready()
    system.workspace_controller().wait_ready()
    name = "phi-3"
    selector = {"apps": f"e2e-{uuid.uuid4().hex[:6]}"}
    cluster.apply(workspace_manifest(name, namespace, selector))
    system.wait_ready(namespace, name)

    machines = system.machines(name)
    assert len(machines) == 1, machines
    svc = cluster.get_json("service", name, "-n", namespace)
    ports = {p["name"]: (p["port"], p.get("targetPort")) for p in svc["spec"]["ports"]}
    assert ports == {"http": (80, 5000)}
    dep = cluster.get_json("deployment", name, "-n", namespace)
    assert dep["status"]["readyReplicas"] == 1
    nodes = {p["spec"]["nodeName"] for p in cluster.get_json("pods", "-n", namespace)["items"]}
    assert nodes == {machines[0]["status"]["nodeName"]}

    # An update (a mounted inference config) rolls the workload.
    system.roll_config(namespace, name, "my-inference-config")
    dep = cluster.get_json("deployment", name, "-n", namespace)
    volumes = {v.get("configMap", {}).get("name") for v in dep["spec"]["template"]["spec"].get("volumes", [])}
    assert "my-inference-config" in volumes
    system.wait_ready(namespace, name)

    # Delete: the system fixture asserts no Machine, node, Deployment, Service or Job is left.
    cluster.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=90s")


def test_tuning_workspace_runs_job_to_success(cluster: LocalCluster, system: System, namespace: str) -> None:
    system.provisioner(extra=["--provider=local"]).wait_ready()
    system.workspace_controller().wait_ready()
    name = "tuning-phi-3"
    cluster.apply(
        {
            "apiVersion": "kaito.sh/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": name, "namespace": namespace},
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"app": f"tuning-{uuid.uuid4().hex[:6]}"}},
            },
            "tuning": {
                "preset": {"name": "phi-3-mini-128k-instruct"},
                "method": "qlora",
                "input": {
                    "urls": [
                        "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/"
                        "data/train-00000-of-00001-54e3756291ca09c6.parquet?download=true"
                    ]
                },
                "output": {
                    "image": "registry.example.com/adapters/phi-3:0.0.1",
                    "imagePushSecret": "push-secret",
                },
            },
        }
    )
    system.wait_ready(namespace, name)
    job = cluster.get_json("job", name, "-n", namespace)
    assert job["status"]["succeeded"] == 1
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec.get("initContainers"), "the URL input needs a downloader init container"
    containers = [c["name"] for c in pod_spec["containers"]]
    assert len(containers) >= 2, f"expected the tuning container and the pusher, got {containers}"
    for c in pod_spec["containers"] + pod_spec["initContainers"]:
        assert not (c.get("securityContext") or {}).get("privileged"), f"{c['name']} must not be privileged"
    assert system.condition(namespace, name, "JobStarted") == "True"
    cluster.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=90s")


def test_many_workspaces_get_exactly_their_machines(
    cluster: LocalCluster, system: System, namespace: str
) -> None:
    system.provisioner(extra=["--provider=local"]).wait_ready()
    system.workspace_controller().wait_ready()
    count = 8
    tag = uuid.uuid4().hex[:6]
    cluster.apply([workspace_manifest(f"ws-{i}", namespace, {"apps": f"{tag}-{i}"}) for i in range(count)])
    for i in range(count):
        system.wait_ready(namespace, f"ws-{i}", timeout=180)
    for i in range(count):
        assert len(system.machines(f"ws-{i}")) == 1
