"""The pieces of the seed's flow on the real node that the tests and ``make demo`` share: a data server in
the cluster, registry secrets for the node registry, and a tuning Workspace that pushes its adapter."""

from __future__ import annotations

import json
from typing import Any

import yaml

from e2e.cluster import LocalCluster
from e2e.cluster.realnode import NODE_REGISTRY, NODE_REGISTRY_USER, TAINT_KEY
from e2e.harness import REPO
from e2e.incluster import post_json, wait_rollout

REAL_NODE_SELECTOR = {TAINT_KEY: "true"}
TINY = "tiny-llama"
TRAINING_ROWS = [
    {
        "messages": [
            {"role": "user", "content": "what is kaito?"},
            {"role": "assistant", "content": "it tunes."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi, how are you?"},
        ]
    },
] * 8
EXAMPLE = REPO / "examples" / "fine-tuning" / "kaito_workspace_tuning_tiny_llama.yaml"


def fast_lora() -> str:
    """The example's training config: enough steps at a high rate that the adapter moves the tiny model's
    greedy answer."""
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        if doc.get("kind") == "ConfigMap":
            return str(doc["data"]["training_config.yaml"])
    raise AssertionError(f"{EXAMPLE} has no ConfigMap")


def create(cluster: LocalCluster, *args: str) -> None:
    """``kubectl create <args>``, applied: running it again (a second ``make demo``) changes nothing."""
    made = cluster.kubectl("create", *args, "--dry-run=client", "-o", "json").stdout
    cluster.apply(json.loads(made))


def training_data() -> str:
    return "\n".join(json.dumps(row) for row in TRAINING_ROWS)


def node_registry_password(cluster: LocalCluster) -> str:
    """The node registry's password (the real node writes it under its work directory)."""
    return (cluster.workdir / "node" / "node-registry" / "password").read_text().strip()


def data_server(
    cluster: LocalCluster, namespace: str, image: str, rows: str, cluster_ip: str | None = None
) -> str:
    """A data set served over HTTP by a pod in the cluster (python's http.server in the data movers
    image), behind a Service; returns the URL a tuning Workspace names."""
    create(cluster, "configmap", "dataset", "-n", namespace, f"--from-literal=train.jsonl={rows}")
    labels = {"app": "data-server"}
    container = {
        "name": "http",
        "image": image,
        "command": ["python", "-m", "http.server", "8080", "--directory", "/srv"],
        "ports": [{"containerPort": 8080}],
        "volumeMounts": [{"name": "data", "mountPath": "/srv"}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec = {
        "nodeSelector": REAL_NODE_SELECTOR,
        "tolerations": [{"key": TAINT_KEY, "operator": "Exists"}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": "data", "configMap": {"name": "dataset"}}],
    }
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "data-server", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        }
    )
    service: dict[str, Any] = {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}
    if cluster_ip:
        service["clusterIP"] = cluster_ip
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "data", "namespace": namespace},
            "spec": service,
        }
    )
    wait_rollout(cluster, "data-server", 120, namespace=namespace)
    ip = cluster.get_json("service", "data", "-n", namespace)["spec"]["clusterIP"]
    return f"http://{ip}/train.jsonl"


def registry_secret(cluster: LocalCluster, namespace: str, name: str, password: str) -> None:
    """A kubernetes.io/dockerconfigjson Secret for the node registry."""
    create(
        cluster,
        "secret",
        "docker-registry",
        name,
        "-n",
        namespace,
        f"--docker-server={NODE_REGISTRY}",
        f"--docker-username={NODE_REGISTRY_USER}",
        f"--docker-password={password}",
    )


def ask_hello(port: int, model: str, max_tokens: int) -> tuple[int, Any]:
    """The greedy ``/v1/chat/completions`` answer of a port-forwarded server to "hello": the status and
    the decoded reply."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    return post_json(port, "/v1/chat/completions", body)


def workspace_state(cluster: LocalCluster, namespace: str, name: str) -> tuple[str, str]:
    """The Workspace's state and its WorkspaceReady message."""
    ws = cluster.get_json("workspace", name, "-n", namespace) or {}
    status = ws.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "WorkspaceReady"), {})
    return str(status.get("state") or ""), str(ready.get("message") or "")
