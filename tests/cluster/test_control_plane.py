"""The local control plane behaves like a real cluster: scheduling on simulated GPU nodes, Jobs,
garbage collection and RBAC."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from e2e.cluster import LocalCluster

pytestmark = pytest.mark.cluster

KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}


def test_gpu_deployment_becomes_ready(cluster: LocalCluster, namespace: str) -> None:
    node = f"gpu-{uuid.uuid4().hex[:6]}"
    cluster.make_gpu_node(node, labels={"pool": node}, gpus=1)
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "gpu-app", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "gpu-app"}},
                "template": {
                    "metadata": {"labels": {"app": "gpu-app"}},
                    "spec": {
                        "nodeSelector": {"pool": node},
                        "tolerations": [KWOK_TOLERATION],
                        "containers": [{"name": "c", "image": "busybox"}],
                    },
                },
            },
        }
    )
    dep = cluster.wait_for(
        lambda: (
            (d := cluster.get_json("deployment", "gpu-app", "-n", namespace))
            and d.get("status", {}).get("readyReplicas") == 2
            and d
        ),
        "2 ready replicas",
        timeout=90,
    )
    assert dep["status"]["readyReplicas"] == 2
    pods = cluster.get_json("pods", "-n", namespace)["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {node}
    node_obj = cluster.get_json("node", node)
    assert node_obj["status"]["capacity"]["nvidia.com/gpu"] == "1"
    cluster.kubectl("delete", "node", node)


def test_job_succeeds(cluster: LocalCluster, namespace: str) -> None:
    node = f"gpu-{uuid.uuid4().hex[:6]}"
    cluster.make_gpu_node(node, labels={"pool": node}, gpus=1)
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "tune", "namespace": namespace},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": {"pool": node},
                        "tolerations": [KWOK_TOLERATION],
                        "containers": [
                            {
                                "name": "c",
                                "image": "busybox",
                                "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            }
                        ],
                    }
                },
            },
        }
    )
    job = cluster.wait_for(
        lambda: (
            (j := cluster.get_json("job", "tune", "-n", namespace))
            and j.get("status", {}).get("succeeded") == 1
            and j
        ),
        "job to succeed",
        timeout=90,
    )
    assert job["status"]["succeeded"] == 1
    cluster.kubectl("delete", "node", node)


def test_dependents_are_garbage_collected(cluster: LocalCluster, namespace: str) -> None:
    owner = cluster.kubectl("create", "configmap", "owner", "-n", namespace, "-o", "json")
    uid = json.loads(owner.stdout)["metadata"]["uid"]
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "namespace": namespace,
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
            },
            "data": {"k": "v"},
        }
    )
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    cluster.wait_for(
        lambda: cluster.get_json("configmap", "dependent", "-n", namespace) is None,
        "dependent to be garbage-collected",
        timeout=60,
    )


def test_rbac_is_enforced(
    cluster: LocalCluster, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    cluster.kubectl("create", "role", "pod-reader", "--verb=list,get", "--resource=pods", "-n", namespace)
    cluster.kubectl(
        "create",
        "rolebinding",
        "reader",
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
        "-n",
        namespace,
    )
    tmp = tmp_path_factory.mktemp("rbac")

    def kubeconfig_for(sa: str) -> str:
        token = cluster.kubectl("create", "token", sa, "-n", namespace).stdout.strip()
        return str(cluster.write_token_kubeconfig(tmp / f"{sa}.kubeconfig", token, user=sa))

    denied = cluster.kubectl(
        "get", "pods", "-n", namespace, check=False, kubeconfig=Path(kubeconfig_for("nobody"))
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    allowed = cluster.kubectl("get", "pods", "-n", namespace, kubeconfig=Path(kubeconfig_for("reader")))
    assert allowed.returncode == 0


def test_audit_log_records_writes(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "audited", "-n", namespace)
    cluster.wait_for(
        lambda: any(
            e.get("verb") == "create" and e.get("objectRef", {}).get("name") == "audited"
            for e in cluster.audit_events()
        ),
        "audit event",
        timeout=20,
    )
