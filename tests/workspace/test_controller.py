"""The workspace controller against the real local control plane, with simulated GPU nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster

from .conftest import RELEASE_NAMESPACE, RunningController, audit_position, controller_writes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PRESET = "phi-3-mini-4k-instruct"
VLLM_PRESET = "llama-3.1-8b-instruct"
INSTANCE = "Standard_NC6s_v3"
# V100s with room for the vLLM preset (18Gi), so that the webhook would admit the workspace too.
V100_32G = "Standard_ND40rs_v2"


async def until(probe: Callable[[], Any], what: str, limit: float = 90.0, interval: float = 0.5) -> Any:
    """Polls a (blocking) probe off the event loop, which the in-process controller needs."""
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {limit:.0f}s waiting for {what} (last: {last!r})")


def inference_ws(
    name: str, ns: str, preset: str = PRESET, count: int = 1, instance: str = INSTANCE, **inference: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": ns},
        "resource": {
            "count": count,
            "instanceType": instance,
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": preset}, **inference},
    }


def tuning_ws(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": ns},
        "resource": {"count": 1, "instanceType": INSTANCE, "labelSelector": {"matchLabels": {"apps": name}}},
        "tuning": {
            "preset": {"name": PRESET},
            "method": "qlora",
            "input": {
                "urls": [
                    "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/data/train-00000-of-00001-54e3756291ca09c6.parquet"
                ]
            },
            "output": {
                "image": "myregistry.azurecr.io/adapters/phi-3-dolly:0.0.1",
                "imagePushSecret": "push-secret",
            },
        },
    }


def conditions(cluster: LocalCluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    ws = cluster.get_json("workspace", name, "-n", ns) or {}
    return {c["type"]: c for c in (ws.get("status") or {}).get("conditions") or []}


def condition_true(cluster: LocalCluster, ns: str, name: str, ctype: str) -> bool:
    return conditions(cluster, ns, name).get(ctype, {}).get("status") == "True"


def machines_of(cluster: LocalCluster, ns: str, name: str) -> list[dict[str, Any]]:
    out = cluster.get_json(
        "machines.karpenter.sh", "-l", f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={ns}"
    )
    return (out or {}).get("items") or []


def events_of(cluster: LocalCluster, ns: str, name: str) -> list[dict[str, Any]]:
    out = cluster.get_json("events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return (out or {}).get("items") or []


async def test_inference_workspace_becomes_ready(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    cluster.apply(inference_ws("ws-infer", namespace))
    await until(
        lambda: condition_true(cluster, namespace, "ws-infer", "WorkspaceReady"), "WorkspaceReady", 120
    )
    svc = cluster.get_json("service", "ws-infer", "-n", namespace)
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert ports == {"http": (80, 5000)}
    (machine,) = machines_of(cluster, namespace, "ws-infer")
    assert machine["metadata"]["name"].startswith("ws") and len(machine["metadata"]["name"]) == 11
    assert machine["metadata"]["labels"]["apps"] == "ws-infer"
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in machine["spec"]["taints"]
    node = cluster.get_json("node", machine["metadata"]["name"])
    assert node["metadata"]["labels"]["accelerator"] == "nvidia"
    ws = cluster.get_json("workspace", "ws-infer", "-n", namespace)
    assert ws["status"]["state"] == "Ready"
    assert ws["status"]["workerNodes"] == [machine["metadata"]["name"]]
    assert all(c["observedGeneration"] == ws["metadata"]["generation"] for c in ws["status"]["conditions"])
    assert "workspace.finalizer.kaito.sh" in ws["metadata"]["finalizers"]
    revisions = cluster.get_json(
        "controllerrevisions", "-n", namespace, "-l", "workspace.kaito.io/name=ws-infer"
    )
    assert len(revisions["items"]) == 1
    printed = cluster.kubectl("get", "workspace", "ws-infer", "-n", namespace).stdout
    assert "True" in printed.splitlines()[1]

    # A resync of a Ready workspace writes nothing: poke it (a label change) and read the audit log.
    await asyncio.sleep(2)
    mark = await asyncio.to_thread(audit_position, cluster)
    cluster.kubectl("label", "workspace", "ws-infer", "-n", namespace, "poke=1")
    await asyncio.sleep(3)
    writes = await asyncio.to_thread(controller_writes, cluster, mark, namespace)
    assert writes == [], [(w["verb"], w["objectRef"]) for w in writes]

    # Deleting leaves nothing behind: Machines by the finalizer, the rest by owner references.
    cluster.kubectl("delete", "workspace", "ws-infer", "-n", namespace, "--wait=false")
    await until(
        lambda: cluster.get_json("workspace", "ws-infer", "-n", namespace) is None, "workspace gone", 90
    )
    assert machines_of(cluster, namespace, "ws-infer") == []

    def owned_gone() -> bool:
        for kind in ("deployment", "service", "job", "configmap", "controllerrevision"):
            items = (cluster.get_json(kind, "-n", namespace, "-l", "kaito.sh/workspace=ws-infer") or {}).get(
                "items"
            )
            if items:
                return False
        return True

    await until(owned_gone, "owned objects garbage-collected", 90)


def backend_env(cluster: LocalCluster, ns: str, name: str) -> str | None:
    dep = cluster.get_json("deployment", name, "-n", ns) or {}
    containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [{}]
    env = {e["name"]: e.get("value") for e in containers[0].get("env") or []}
    return env.get("INFERENCE_BACKEND")


async def test_several_nodes_serve_independent_replicas_with_the_gpus_runtime(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    # A vLLM preset on V100 nodes (compute capability 7.0): two transformers replicas behind one Service.
    # An older version's StatefulSet and headless Service for the workspace are deleted on upgrade.
    cluster.apply(inference_ws("ws-multi", namespace, preset=VLLM_PRESET, count=2, instance=V100_32G))
    uid = cluster.get_json("workspace", "ws-multi", "-n", namespace)["metadata"]["uid"]
    owner = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "name": "ws-multi",
        "uid": uid,
        "controller": True,
    }
    labels = {"kaito.sh/workspace": "ws-multi"}
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "ws-multi-headless",
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "torchrun", "port": 29500}]},
        }
    )
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": "ws-multi",
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": {
                "replicas": 0,
                "serviceName": "ws-multi-headless",
                "selector": {"matchLabels": {"legacy": "ws-multi"}},
                "template": {
                    "metadata": {"labels": {"legacy": "ws-multi"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.test/legacy:1"}]},
                },
            },
        }
    )
    await until(
        lambda: condition_true(cluster, namespace, "ws-multi", "WorkspaceReady"), "WorkspaceReady", 120
    )
    assert len(machines_of(cluster, namespace, "ws-multi")) == 2
    dep = cluster.get_json("deployment", "ws-multi", "-n", namespace)
    assert dep["spec"]["replicas"] == 2
    assert backend_env(cluster, namespace, "ws-multi") == "transformers"
    await until(
        lambda: (
            cluster.get_json("statefulset", "ws-multi", "-n", namespace) is None
            and cluster.get_json("service", "ws-multi-headless", "-n", namespace) is None
        ),
        "legacy StatefulSet and headless Service deleted",
        60,
    )
    expected = (
        "serving with transformers: catalog runtime vllm, but Standard_ND40rs_v2 has compute capability 7.0 "
        "and vLLM needs 8.0 or more"
    )
    ready = conditions(cluster, namespace, "ws-multi")["InferenceReady"]
    assert ready["message"].endswith(expected)
    selected = [e for e in events_of(cluster, namespace, "ws-multi") if e["reason"] == "RuntimeSelected"]
    assert [e["message"] for e in selected] == [expected]


async def test_tuning_job_succeeds(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    cluster.apply(tuning_ws("ws-tune", namespace))
    job = await until(lambda: cluster.get_json("job", "ws-tune", "-n", namespace), "tuning Job", 120)
    spec = job["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["data-downloader"]
    assert [c["name"] for c in spec["containers"]] == ["tuning", "pusher"]
    assert not any(c.get("securityContext", {}).get("privileged") for c in spec["containers"])
    cm = cluster.get_json("configmap", "ws-tune-tuning-config", "-n", namespace)
    assert "training_config.yaml" in cm["data"]
    await until(lambda: condition_true(cluster, namespace, "ws-tune", "JobStarted"), "JobStarted", 120)
    await until(
        lambda: condition_true(cluster, namespace, "ws-tune", "WorkspaceReady"), "WorkspaceReady", 120
    )
    ws = cluster.get_json("workspace", "ws-tune", "-n", namespace)
    assert ws["status"]["state"] == "Succeeded"


async def test_failed_job_surfaces_its_reason(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    # The simulated node holds the pod Pending (kwok would otherwise complete it); the test fails it by
    # hand with the trainer exiting 1, which the Job's pod failure policy turns into a failed Job.
    workspace_controller.sim.hold_pods.add("ws-fail")
    cluster.apply(tuning_ws("ws-fail", namespace))

    def fail_pod() -> bool:
        pods = (cluster.get_json("pods", "-n", namespace, "-l", "job-name=ws-fail") or {}).get("items") or []
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        terminated = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}}
        for pod in pods:
            if pod["status"].get("phase") in ("Failed", "Succeeded"):
                continue
            statuses = [
                {
                    "name": c,
                    "state": terminated,
                    "ready": False,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "",
                }
                for c in ("tuning", "pusher")
            ]
            patch = {"status": {"phase": "Failed", "containerStatuses": statuses}}
            out = cluster.kubectl(
                "patch",
                "pod",
                pod["metadata"]["name"],
                "-n",
                namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(patch),
                check=False,
            )
            assert out.returncode == 0, out.stderr
        job = cluster.get_json("job", "ws-fail", "-n", namespace) or {}
        conds = job.get("status", {}).get("conditions") or []
        return any(c["type"] == "Failed" and c["status"] == "True" for c in conds)

    await until(fail_pod, "the Job to fail", 120, interval=1.0)

    def state() -> Any:
        return (
            (cluster.get_json("workspace", "ws-fail", "-n", namespace) or {}).get("status", {}).get("state")
        )

    await until(lambda: state() == "Failed", "state Failed", 60)
    ready = conditions(cluster, namespace, "ws-fail")["WorkspaceReady"]
    assert ready["status"] == "False" and ready["reason"] in ("PodFailurePolicy", "BackoffLimitExceeded")
    assert "exit code 1" in ready["message"] or "backoff" in ready["message"]
    await until(
        lambda: any(
            e["type"] == "Warning" and e["reason"] == ready["reason"]
            for e in events_of(cluster, namespace, "ws-fail")
        ),
        "Warning event",
        30,
    )


def node_settled(cluster: LocalCluster, name: str) -> bool:
    got = cluster.get_json("node", name) or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (got.get("status") or {}).get("conditions") or []
    )
    taints = {t.get("key") for t in (got.get("spec") or {}).get("taints") or []}
    return ready and "node.kubernetes.io/not-ready" not in taints


async def test_unschedulable_pod_surfaces_its_reason(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    # A bring-your-own node that reports a GPU in capacity but has none allocatable: the pod cannot fit.
    node = cluster.gpu_node_manifest(
        f"byo-{namespace}", labels={"apps": "ws-unsched"}, instance_type=INSTANCE
    )
    node["status"]["allocatable"]["nvidia.com/gpu"] = "0"
    cluster.kubectl("create", "-f", "-", input=json.dumps(node))
    try:
        # A new node carries node.kubernetes.io/not-ready until the node-lifecycle controller sees it Ready;
        # a pod scheduled before that is refused for the taint, not for the GPU this test is about.
        await until(lambda: node_settled(cluster, node["metadata"]["name"]), "node Ready and untainted", 60)
        cluster.apply(inference_ws("ws-unsched", namespace))
        await until(
            lambda: (
                conditions(cluster, namespace, "ws-unsched").get("InferenceReady", {}).get("reason")
                == "Unschedulable"
            ),
            "InferenceReady reason Unschedulable",
            120,
        )
        assert machines_of(cluster, namespace, "ws-unsched") == []
        assert "nvidia.com/gpu" in conditions(cluster, namespace, "ws-unsched")["InferenceReady"]["message"]
    finally:
        cluster.kubectl("delete", "workspace", "ws-unsched", "-n", namespace, "--wait=false", check=False)
        await until(
            lambda: cluster.get_json("workspace", "ws-unsched", "-n", namespace) is None, "workspace gone", 60
        )
        cluster.kubectl("delete", "node", node["metadata"]["name"], "--wait=false", check=False)


async def test_quota_failure_shows_on_workspace(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    workspace_controller.sim.quota_failures.add("ws-quota")
    cluster.apply(inference_ws("ws-quota", namespace))
    await until(
        lambda: (
            conditions(cluster, namespace, "ws-quota").get("ResourceReady", {}).get("reason")
            == "QuotaExceeded"
        ),
        "ResourceReady reason QuotaExceeded",
        120,
    )
    resource = conditions(cluster, namespace, "ws-quota")["ResourceReady"]
    assert resource["status"] == "False" and "quota" in resource["message"]
    assert (cluster.get_json("workspace", "ws-quota", "-n", namespace))["status"]["state"] == "Failed"
    await until(
        lambda: any(
            e["type"] == "Warning" and e["reason"] == "QuotaExceeded"
            for e in events_of(cluster, namespace, "ws-quota")
        ),
        "Warning event",
        30,
    )
    assert len(machines_of(cluster, namespace, "ws-quota")) == 1


async def test_editing_inference_config_rolls_the_workload(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-config", "namespace": namespace},
            "data": {"inference_config.yaml": "vllm:\n  max-model-len: 2048\n"},
        }
    )
    cluster.apply(inference_ws("ws-config", namespace, config="my-config"))
    await until(
        lambda: condition_true(cluster, namespace, "ws-config", "WorkspaceReady"), "WorkspaceReady", 120
    )

    def template_hash() -> str:
        dep = cluster.get_json("deployment", "ws-config", "-n", namespace)
        return str(dep["spec"]["template"]["metadata"]["annotations"]["kaito.sh/config-hash"])

    before = template_hash()
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-config", "namespace": namespace},
            "data": {"inference_config.yaml": "vllm:\n  max-model-len: 4096\n"},
        }
    )
    await until(lambda: template_hash() != before, "pod template to change", 60)
    rs = cluster.get_json("replicasets", "-n", namespace, "-l", "kaito.sh/workspace=ws-config")
    assert len(rs["items"]) >= 2
    env = cluster.get_json("deployment", "ws-config", "-n", namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {"name": "VLLM_ENGINE_ARGS", "value": '{"max-model-len": 4096}'} in env
    await until(lambda: condition_true(cluster, namespace, "ws-config", "WorkspaceReady"), "Ready again", 120)

    # Pointing inference.config at another ConfigMap is a spec change: a new revision, a new rollout.
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "other-config", "namespace": namespace},
            "data": {"inference_config.yaml": "vllm:\n  max-model-len: 1024\n"},
        }
    )
    cluster.kubectl(
        "patch",
        "workspace",
        "ws-config",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"inference": {"config": "other-config"}}),
    )

    def revision() -> str:
        dep = cluster.get_json("deployment", "ws-config", "-n", namespace)
        return str(dep["metadata"]["annotations"].get("workspace.kaito.io/revision"))

    await until(lambda: revision() == "2", "revision 2 rolled out", 60)
    revisions = cluster.get_json(
        "controllerrevisions", "-n", namespace, "-l", "workspace.kaito.io/name=ws-config"
    )
    assert len(revisions["items"]) == 2
    await until(lambda: condition_true(cluster, namespace, "ws-config", "WorkspaceReady"), "Ready again", 120)


async def test_template_workspace_runs_the_users_pod_template(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    ws = inference_ws("ws-tmpl", namespace)
    ws["inference"] = {
        "template": {
            "metadata": {"labels": {"app": "custom"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "example.com/my-server:1",
                        "ports": [{"containerPort": 5000}],
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ]
            },
        }
    }
    cluster.apply(ws)
    await until(
        lambda: condition_true(cluster, namespace, "ws-tmpl", "WorkspaceReady"), "WorkspaceReady", 120
    )
    pod = cluster.get_json("deployment", "ws-tmpl", "-n", namespace)["spec"]["template"]
    assert [c["image"] for c in pod["spec"]["containers"]] == ["example.com/my-server:1"]
    assert pod["metadata"]["labels"]["app"] == "custom"


async def test_fifty_workspaces_get_exactly_their_machines(
    cluster: LocalCluster, namespace: str, workspace_controller: RunningController
) -> None:
    names_ = [f"bulk-{i:02d}" for i in range(50)]
    cluster.apply([inference_ws(n, namespace) for n in names_])

    def all_ready() -> bool:
        items = (cluster.get_json("workspaces", "-n", namespace) or {}).get("items") or []
        ready = [
            w
            for w in items
            if any(
                c["type"] == "WorkspaceReady" and c["status"] == "True"
                for c in (w.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ready) == len(names_)

    await until(all_ready, "50 workspaces Ready", 300, interval=2.0)
    machines = (
        cluster.get_json("machines.karpenter.sh", "-l", f"kaito.sh/workspacenamespace={namespace}") or {}
    )["items"]
    per_ws: dict[str, int] = {}
    for m in machines:
        per_ws[m["metadata"]["labels"]["kaito.sh/workspace"]] = (
            per_ws.get(m["metadata"]["labels"]["kaito.sh/workspace"], 0) + 1
        )
    assert per_ws == {n: 1 for n in names_}
    writes = [
        w for w in controller_writes(cluster) if (w.get("objectRef") or {}).get("namespace") == namespace
    ]
    by_kind: dict[str, int] = {}
    for w in writes:
        ref = w["objectRef"]
        key = f"{w['verb']} {ref.get('resource')}{'/' + ref['subresource'] if ref.get('subresource') else ''}"
        by_kind[key] = by_kind.get(key, 0) + 1
    print("controller writes per workspace:", len(writes) / len(names_), sorted(by_kind.items()))
    # One metadata patch, one revision, one Service, one Deployment and a status patch per transition
    # (Provisioning, Running, Ready, plus the odd transient such as a pod seen before its node).
    non_events = sum(v for k, v in by_kind.items() if "events" not in k)
    assert non_events / len(names_) <= 9, by_kind
    assert by_kind.get("patch workspaces/status", 0) / len(names_) <= 5, by_kind


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_get(port: int, path: str) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


@dataclass
class _Binary:
    proc: asyncio.subprocess.Process
    health: int
    metrics: int


@contextlib.asynccontextmanager
async def _controller_binary(
    cluster: LocalCluster, *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[_Binary]:
    """``kaito-workspace-controller`` as a process, ready; stopped with SIGTERM, which must exit 0."""
    health, metrics = _free_port(), _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kaito.cmd.workspace_controller",
        "--kubeconfig",
        str(cluster.kubeconfig),
        f"--health-probe-bind-address=127.0.0.1:{health}",
        f"--metrics-bind-address=127.0.0.1:{metrics}",
        f"--release-namespace={RELEASE_NAMESPACE}",
        "--log-format=console",
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        await until(lambda: _http_get(health, "/readyz"), "/readyz", 60)
        yield _Binary(proc, health, metrics)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()[-3000:]


async def test_binary_starts_leads_and_serves_metrics(
    cluster: LocalCluster, workspace_controller: RunningController
) -> None:
    async with _controller_binary(cluster) as binary:
        lease = await until(
            lambda: cluster.get_json("lease", "kaito-workspace-controller", "-n", RELEASE_NAMESPACE),
            "Lease",
            60,
        )
        assert lease["spec"]["holderIdentity"]
        text = await until(lambda: _http_get(binary.metrics, "/metrics"), "/metrics", 30)
        assert "kaito_workspace_count" in text and "kaito_workspace_ready_seconds" in text
        status_text = await asyncio.to_thread(Path(f"/proc/{binary.proc.pid}/status").read_text)
        rss_kib = next(int(line.split()[1]) for line in status_text.splitlines() if line.startswith("VmRSS:"))
        print(f"controller RSS after start: {rss_kib / 1024:.1f} MiB")


async def test_binary_counts_admission_reviews_on_the_managers_metrics(
    cluster: LocalCluster, workspace_controller: RunningController, namespace: str
) -> None:
    # The local apiserver runs on this host, so it calls the webhook by URL instead of through a Service.
    env = {"WEBHOOK_URL": "https://127.0.0.1:{port}/validate-workspace"}
    try:
        async with _controller_binary(
            cluster, "--enable-webhook", f"--webhook-port={_free_port()}", env=env
        ) as binary:
            refused = await asyncio.to_thread(
                cluster.apply, inference_ws("refused", namespace, preset="no-such-model"), check=False
            )
            assert refused.returncode != 0 and "no-such-model" in refused.stderr, refused.stderr
            assert 'admission webhook "validation.workspace.kaito.sh" denied' in refused.stderr
            text = await until(lambda: _http_get(binary.metrics, "/metrics"), "/metrics", 30)
            counted = [
                line
                for line in text.splitlines()
                if line.startswith("kaito_webhook_admission_requests_total{")
                and 'allowed="false"' in line
                and 'operation="CREATE"' in line
            ]
            assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, text
            assert "kaito_webhook_certificate_expiry_timestamp_seconds" in text
            assert "kaito_workspace_count" in text  # one registry: the controller's and the webhook's
    finally:
        # Never leave a Fail-policy webhook pointing at a dead port behind for other tests.
        await asyncio.to_thread(
            cluster.kubectl,
            "delete",
            "validatingwebhookconfiguration",
            "validation.workspace.kaito.sh",
            "--ignore-not-found",
        )
