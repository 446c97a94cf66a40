"""On the real node: both controllers and the webhook as pods from the images this repo builds, and a
workspace whose pod really starts and answers. Nothing here is simulated: a pod is Running because
runc started it, and a reply comes from the preset server in the preset image.

The controllers are installed for this module and removed at its end (the other e2e tests run them as
processes against the same cluster)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from e2e.cluster.realnode import NODE_NAME, NODE_REGISTRY
from e2e.harness import SYSTEM_NAMESPACE
from e2e.images import build_all
from e2e.incluster import (
    DEPLOYMENTS,
    WEBHOOK_CONFIGURATION,
    controller_pods,
    install,
    leader,
    port_forward,
    post_json,
    uninstall,
)
from e2e.tuningflow import (
    REAL_NODE_SELECTOR,
    TINY,
    ask_hello,
    data_server,
    fast_lora,
    node_registry_password,
    registry_secret,
    training_data,
    workspace_state,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def images(cluster: LocalCluster) -> dict[str, str]:
    if cluster.real_node is None:
        pytest.skip(f"no real node: {cluster.real_node_skipped}")
    return build_all()


@pytest.fixture(scope="module")
def in_cluster(
    cluster: LocalCluster, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    install(cluster, images, tmp_path_factory.mktemp("overlay"))
    try:
        yield
    finally:
        uninstall(cluster)


@pytest.fixture
def ns(cluster: LocalCluster, in_cluster: None) -> Iterator[str]:
    name = f"rn-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    # Every workload KAITO generates must run where Pod Security "restricted" is enforced.
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    try:
        yield name
    finally:
        # Workspaces go first, while the controller can still finalize them.
        cluster.kubectl(
            "delete", "workspaces", "--all", "-n", name, "--timeout=120s", check=False, timeout=150
        )
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def tiny_workspace(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {
            "instanceType": "Standard_NC4as_T4_v3",
            "labelSelector": {"matchLabels": REAL_NODE_SELECTOR},
        },
        "inference": {"preset": {"name": TINY}},
    }
    body.update(extra)
    return body


def condition(cluster: LocalCluster, namespace: str, name: str, kind: str) -> str | None:
    ws = cluster.get_json("workspace", name, "-n", namespace) or {}
    for cond in (ws.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def running_pods(cluster: LocalCluster, namespace: str, workspace: str) -> list[dict[str, Any]]:
    pods = (cluster.get_json("pods", "-n", namespace, "-l", f"kaito.sh/workspace={workspace}") or {}).get(
        "items", []
    )
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and all(c.get("ready") for c in p["status"].get("containerStatuses") or [])
    ]


def ask(port: int) -> tuple[str, str]:
    """One /chat and one /v1/chat/completions; returns both texts (asserting both answered)."""
    status, chat = post_json(port, "/chat", {"prompt": "hello", "generate_kwargs": {"max_new_tokens": 8}})
    assert status == 200, chat
    return str(chat.get("Result", chat)), greedy(port, TINY, max_tokens=8)


def greedy(port: int, model: str, max_tokens: int = 12) -> str:
    """The greedy /v1/chat/completions answer to "hello" (asserting it answered)."""
    status, completion = ask_hello(port, model, max_tokens)
    assert status == 200, completion
    assert completion["object"] == "chat.completion" and completion["model"] == model
    text = completion["choices"][0]["message"]["content"]
    assert isinstance(text, str) and text
    return str(text)


def node_containers(cluster: LocalCluster, namespace: str) -> list[str]:
    """Containers and sandboxes containerd still holds for pods of ``namespace``."""
    node = cluster.real_node
    assert node is not None
    out = subprocess.run(
        ["ctr", "--address", str(node.containerd_socket), "-n", "k8s.io", "containers", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = []
    for cid in out:
        info = subprocess.run(
            ["ctr", "--address", str(node.containerd_socket), "-n", "k8s.io", "containers", "info", cid],
            capture_output=True,
            text=True,
            check=False,
        )
        if (
            info.returncode == 0
            and json.loads(info.stdout).get("Labels", {}).get("io.kubernetes.pod.namespace") == namespace
        ):
            found.append(cid)
    return found


def test_controllers_run_as_pods_on_the_real_node(
    cluster: LocalCluster, images: dict[str, str], in_cluster: None
) -> None:
    for name, deployment in DEPLOYMENTS.items():
        d = cluster.get_json("deployment", deployment, "-n", SYSTEM_NAMESPACE)
        assert d["status"].get("readyReplicas") == 2, d["status"]
        pods = controller_pods(cluster, name)
        assert len(pods) == 2
        for pod in pods:
            assert pod["spec"]["nodeName"] == NODE_NAME
            assert pod["status"]["containerStatuses"][0]["imageID"].endswith(images[name].split("@")[1])
            assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert leader(cluster, name) in {p["metadata"]["name"] for p in pods}
    # Each workspace-controller replica is ready only once its webhook answers, and a drain keeps one.
    for pod in controller_pods(cluster, "workspace-controller"):
        path = (
            f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/pods/{pod['metadata']['name']}:8081/proxy/readyz/webhook"
        )
        assert cluster.kubectl("get", "--raw", path).stdout.strip() == "ok"
    pdb = cluster.get_json("pdb", "kaito-workspace-controller", "-n", SYSTEM_NAMESPACE)
    assert pdb["spec"]["minAvailable"] == 1 and pdb["status"]["currentHealthy"] == 2


def test_webhook_refuses_a_bad_workspace_through_its_service(cluster: LocalCluster, ns: str) -> None:
    config = cluster.get_json("validatingwebhookconfiguration", WEBHOOK_CONFIGURATION)
    client = config["webhooks"][0]["clientConfig"]
    assert client["service"]["name"] == "kaito-workspace-webhook" and "url" not in client
    bad = tiny_workspace("bad", ns, inference={"preset": {"name": "no-such-model"}})
    out = cluster.apply(bad, check=False)
    assert out.returncode != 0
    assert "denied the request" in out.stderr and "no-such-model" in out.stderr, out.stderr
    assert cluster.get_json("workspace", "bad", "-n", ns) is None
    # The refusal is counted on the manager's /metrics of whichever replica answered it.
    refused = 0.0
    for pod in controller_pods(cluster, "workspace-controller"):
        path = f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/pods/{pod['metadata']['name']}:8080/proxy/metrics"
        text = cluster.kubectl("get", "--raw", path).stdout
        assert "kaito_workspace_count" in text
        assert "kaito_webhook_certificate_expiry_timestamp_seconds" in text
        for line in text.splitlines():
            if line.startswith("kaito_webhook_admission_requests_total{") and 'allowed="false"' in line:
                refused += float(line.rsplit(" ", 1)[1])
    assert refused >= 1


def test_tiny_workspace_answers_and_rolls_out_a_config_change(cluster: LocalCluster, ns: str) -> None:
    # The namespace really enforces "restricted": a plain pod is refused there.
    plain = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain", "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": "localhost/kaito/pause:3.10"}]},
    }
    refused = cluster.apply(plain, check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    name = "tiny"
    cluster.apply(tiny_workspace(name, ns))
    cluster.wait_for(
        lambda: condition(cluster, ns, name, "WorkspaceReady") == "True", "tiny Ready", timeout=300
    )
    assert not cluster.get_json("machines.karpenter.sh", "-l", f"kaito.sh/workspace={name}")["items"]
    [pod] = running_pods(cluster, ns, name)
    assert pod["spec"]["nodeName"] == NODE_NAME
    with port_forward(cluster, f"svc/{name}", ns, 80) as port:
        ask(port)

    cluster.kubectl(
        "create", "configmap", "short", "-n", ns, "--from-literal=inference_config.yaml=max_new_tokens: 4\n"
    )
    cluster.kubectl(
        "patch",
        "workspace",
        name,
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"inference": {"config": "short"}}),
    )
    old_uid = pod["metadata"]["uid"]
    cluster.wait_for(
        lambda: (
            [p for p in running_pods(cluster, ns, name) if p["metadata"]["uid"] != old_uid]
            and condition(cluster, ns, name, "WorkspaceReady") == "True"
        ),
        "a new pod with the new config serving",
        timeout=300,
    )
    [new_pod] = running_pods(cluster, ns, name)
    mounts = {m["mountPath"] for m in new_pod["spec"]["containers"][0]["volumeMounts"]}
    assert any("config" in m for m in mounts), mounts
    with port_forward(cluster, f"svc/{name}", ns, 80) as port:
        ask(port)

    cluster.kubectl("delete", "workspace", name, "-n", ns, "--timeout=120s", timeout=150)
    cluster.wait_for(
        lambda: (
            not running_pods(cluster, ns, name)
            and not (cluster.get_json("pods", "-n", ns) or {}).get("items")
        ),
        "the workspace's pods gone",
        timeout=120,
    )
    cluster.wait_for(lambda: not node_containers(cluster, ns), "no containers or sandboxes left", timeout=60)
    for kind in ("deployments", "services", "replicasets", "configmaps"):
        left = [i["metadata"]["name"] for i in (cluster.get_json(kind, "-n", ns) or {}).get("items", [])]
        left = [n for n in left if n not in {"short", "kube-root-ca.crt"}]
        assert not left, f"{kind} left: {left}"


def test_leader_fails_over_when_its_pod_is_deleted(cluster: LocalCluster, ns: str) -> None:
    for name in DEPLOYMENTS:
        old = leader(cluster, name)
        assert old
        cluster.kubectl("delete", "pod", old, "-n", SYSTEM_NAMESPACE, "--wait=false")
        new = cluster.wait_for(
            lambda n=name, o=old: (h := leader(cluster, n)) and h != o and h,
            f"{name}: a new leader",
            timeout=90,
        )
        assert new in {p["metadata"]["name"] for p in controller_pods(cluster, name)}
    # The new leaders work: a workspace on simulated GPU capacity gets its Machine, node and pod.
    ws = tiny_workspace("after-failover", ns)
    ws["resource"] = {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"failover": ns}}}
    ws["inference"] = {"preset": {"name": "phi-3-mini-4k-instruct"}}
    cluster.apply(ws)
    cluster.wait_for(
        lambda: condition(cluster, ns, "after-failover", "WorkspaceReady") == "True",
        "Ready after failover",
        timeout=180,
    )


def test_cluster_down_restores_the_host_is_checked_by_the_session(cluster: LocalCluster) -> None:
    """The session's cluster fixture compares a host snapshot from before the real node with one after
    it stops (processes, mounts, links, routes, iptables, cgroups, host paths, sysctls); here only that
    the node's safety rules are in place while it runs."""
    if cluster.real_node is None:
        pytest.skip(f"no real node: {cluster.real_node_skipped}")
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert "blackhole 10.245.0.0/16" in routes and "blackhole 10.96.0.0/16" in routes
    mangle = subprocess.run(
        ["iptables", "-t", "mangle", "-S", "FORWARD"], capture_output=True, text=True
    ).stdout
    assert mangle.count("kaito-realnode") == 2
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    # Only kube-proxy's SNAT of marked service traffic, whose destinations are pods on the bridge.
    masquerades = [line for line in nat.splitlines() if "MASQUERADE" in line]
    assert all(line.startswith("-A KUBE-POSTROUTING ") for line in masquerades), masquerades
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"


def tuning_workspace(name: str, namespace: str, data_config_map: str) -> dict[str, Any]:
    body = tiny_workspace(name, namespace)
    del body["inference"]
    body["tuning"] = {
        "preset": {"name": TINY},
        "method": "lora",
        "input": {"volumeSource": {"configMap": {"name": data_config_map}}},
        "output": {"volumeSource": {"emptyDir": {}}},
    }
    return body


def test_tuning_job_really_trains_and_bad_data_fails_with_its_reason(cluster: LocalCluster, ns: str) -> None:
    """LoRA on the tiny model, on the real node's CPU, with the shipped lora template: the Job succeeds
    because the trainer ran (its log says so), and a data set without a usable column fails with the
    trainer's own words in the Workspace's status."""
    good = training_data()
    cluster.kubectl("create", "configmap", "good-data", "-n", ns, f"--from-literal=train.jsonl={good}")
    cluster.kubectl("create", "configmap", "bad-data", "-n", ns, '--from-literal=train.jsonl={"nothing": 1}')

    cluster.apply(tuning_workspace("tune", ns, "good-data"))
    cluster.wait_for(
        lambda: workspace_state(cluster, ns, "tune")[0] in ("Succeeded", "Failed"), "tune done", 300
    )
    assert workspace_state(cluster, ns, "tune")[0] == "Succeeded", workspace_state(cluster, ns, "tune")
    [pod] = (cluster.get_json("pods", "-n", ns, "-l", "kaito.sh/workspace=tune") or {})["items"]
    assert pod["spec"]["nodeName"] == NODE_NAME
    logs = cluster.kubectl("logs", pod["metadata"]["name"], "-n", ns, "-c", "tuning").stdout
    assert "fine-tuning completed" in logs and '"train_loss"' in logs
    # The GPU is free again for the next run.
    cluster.kubectl("delete", "workspace", "tune", "-n", ns, "--timeout=120s", timeout=150)

    cluster.apply(tuning_workspace("tune-bad", ns, "bad-data"))
    cluster.wait_for(lambda: workspace_state(cluster, ns, "tune-bad")[0] == "Failed", "tune-bad Failed", 300)
    _, message = workspace_state(cluster, ns, "tune-bad")
    assert "no messages column" in message, message


def pushing_workspace(name: str, namespace: str, url: str, secret: str) -> dict[str, Any]:
    """The docs' tuning example, scaled to the tiny model: data from a URL, the adapter pushed as an image."""
    body = tiny_workspace(name, namespace)
    del body["inference"]
    body["tuning"] = {
        "preset": {"name": TINY},
        "method": "lora",
        "config": "fast-lora",
        "input": {"urls": [url]},
        "output": {"image": f"{NODE_REGISTRY}/adapters/{name}:0.0.1", "imagePushSecret": secret},
    }
    return body


def test_tune_push_and_serve_the_adapter(cluster: LocalCluster, ns: str, images: dict[str, str]) -> None:
    """The seed's flow: a tuning Workspace downloads its data from a URL (a Service in the cluster, let
    through by the operator's egress allow-list), trains LoRA on the real node, pushes the adapter as an
    image with its push secret, and says where in its status; an inference Workspace then serves the
    model with that adapter, whose effect shows in a greedy completion. A push the registry refuses ends
    as Failed with the registry's reason."""
    url = data_server(cluster, ns, images["datamovers"], training_data())
    registry_secret(cluster, ns, "push", node_registry_password(cluster))
    registry_secret(cluster, ns, "wrong", "not-the-password")
    cluster.kubectl(
        "create", "configmap", "fast-lora", "-n", ns, f"--from-literal=training_config.yaml={fast_lora()}"
    )

    cluster.apply(pushing_workspace("tuned", ns, url, "push"))
    cluster.wait_for(
        lambda: workspace_state(cluster, ns, "tuned")[0] in ("Succeeded", "Failed"), "tuned done", 420
    )
    state, message = workspace_state(cluster, ns, "tuned")
    assert state == "Succeeded", message
    ws = cluster.get_json("workspace", "tuned", "-n", ns)
    pushed = ws["status"]["outputImage"]
    assert pushed.startswith(f"{NODE_REGISTRY}/adapters/tuned@sha256:"), pushed
    events = cluster.get_json("events", "-n", ns, "--field-selector", "reason=AdapterPublished")["items"]
    assert any(pushed in e["message"] for e in events), events
    [pod] = (cluster.get_json("pods", "-n", ns, "-l", "kaito.sh/workspace=tuned") or {})["items"]
    downloaded = cluster.kubectl("logs", pod["metadata"]["name"], "-n", ns, "-c", "data-downloader").stdout
    assert "train.jsonl" in downloaded, downloaded
    cluster.kubectl("delete", "workspace", "tuned", "-n", ns, "--timeout=120s", timeout=150)

    cluster.apply(pushing_workspace("refused", ns, url, "wrong"))
    cluster.wait_for(lambda: workspace_state(cluster, ns, "refused")[0] == "Failed", "refused Failed", 420)
    _, message = workspace_state(cluster, ns, "refused")
    assert "pusher" in message and "UNAUTHORIZED" in message, message
    cluster.kubectl("delete", "workspace", "refused", "-n", ns, "--timeout=120s", timeout=150)

    # A push secret of another type fails the Job at once (the pusher checks it before the training ends).
    cluster.kubectl("create", "secret", "generic", "opaque", "-n", ns, "--from-literal=user=kaito")
    cluster.apply(pushing_workspace("opaque", ns, url, "opaque"))
    cluster.wait_for(lambda: workspace_state(cluster, ns, "opaque")[0] == "Failed", "opaque Failed", 300)
    _, message = workspace_state(cluster, ns, "opaque")
    assert "must be a kubernetes.io/dockerconfigjson Secret" in message, message
    cluster.kubectl("delete", "workspace", "opaque", "-n", ns, "--timeout=120s", timeout=150)

    # Input that is not there fails with the downloader's own reason, at once (a 404 is not retried).
    # (A destination that never answers, as the node's guard makes of anything off the bridge, takes the
    # downloader's five attempts of a minute each: its unit tests cover that.)
    missing = url.rsplit("/", 1)[0] + "/missing.jsonl"
    cluster.apply(pushing_workspace("unreachable", ns, missing, "push"))
    cluster.wait_for(
        lambda: workspace_state(cluster, ns, "unreachable")[0] == "Failed", "unreachable Failed", 300
    )
    _, message = workspace_state(cluster, ns, "unreachable")
    assert "data-downloader" in message and "404" in message, message
    cluster.kubectl("delete", "workspace", "unreachable", "-n", ns, "--timeout=120s", timeout=150)

    registry_secret(cluster, ns, "pull", node_registry_password(cluster))
    served = tiny_workspace("served", ns)
    served["inference"]["adapters"] = [
        {"source": {"name": "tuned", "image": pushed, "imagePullSecrets": ["pull"]}, "strength": "1.0"}
    ]
    cluster.apply(served)
    cluster.wait_for(
        lambda: condition(cluster, ns, "served", "WorkspaceReady") == "True", "served Ready", timeout=300
    )
    with port_forward(cluster, "svc/served", ns, 80) as port:
        status, models = post_json(port, "/v1/models", None)
        assert status == 200, models
        assert [(m["id"], m.get("strength")) for m in models["data"]] == [(TINY, None), ("tuned", 1.0)]
        tuned_answer = greedy(port, "tuned")
    # Strength 0 is the base model: the same image, the same pod template but for the strength.
    served["inference"]["adapters"][0]["strength"] = "0.0"
    old = {p["metadata"]["uid"] for p in running_pods(cluster, ns, "served")}
    cluster.apply(served)
    cluster.wait_for(
        lambda: (
            (pods := running_pods(cluster, ns, "served"))
            and all(p["metadata"]["uid"] not in old for p in pods)
            and condition(cluster, ns, "served", "WorkspaceReady") == "True"
        ),
        "served at strength 0",
        timeout=300,
    )
    with port_forward(cluster, "svc/served", ns, 80) as port:
        base_answer = greedy(port, TINY)
    assert tuned_answer != base_answer, (tuned_answer, base_answer)
