"""Both controllers and the webhook as Deployments on the real node, installed as an operator would:
``kubectl apply --server-side -k`` of an overlay of ``manifests/realnode`` that pins the images
``make images`` pushed, by digest. Shared by ``make demo`` and the real-node e2e tests."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster import ClusterError, LocalCluster
from e2e.cluster.realnode import NODE_ROOT
from e2e.harness import REPO, SYSTEM_NAMESPACE

OVERLAY_BASE = REPO / "manifests" / "realnode"
# The names the shipped manifests use, and the logical image each is built as.
MANIFEST_IMAGES = {
    "workspace-controller": "127.0.0.1:5001/kaito/workspace-controller",
    "gpu-provisioner": "127.0.0.1:5001/kaito/gpu-provisioner",
}
DEPLOYMENTS = {"workspace-controller": "kaito-workspace-controller", "gpu-provisioner": "gpu-provisioner"}
LEASES = {
    "workspace-controller": "kaito-workspace-controller",
    "gpu-provisioner": "gpu-provisioner-leader-election",
}
WEBHOOK_CONFIGURATION = "validation.workspace.kaito.sh"


def write_overlay(directory: Path, images: Mapping[str, str]) -> Path:
    """A kustomization over ``manifests/realnode`` with each controller image set to ``images[name]``
    (``registry/repo@sha256:...``)."""
    directory.mkdir(parents=True, exist_ok=True)
    pins = []
    for name, manifest_name in MANIFEST_IMAGES.items():
        ref = images[name]
        repo, _, digest = ref.partition("@")
        pins.append(
            {"name": manifest_name, "newName": repo, "digest": digest}
            if digest
            else {"name": manifest_name, "newName": ref.rsplit(":", 1)[0], "newTag": ref.rsplit(":", 1)[1]}
        )
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY_BASE, directory)],
        "images": pins,
    }
    if "datamovers" in images:
        # The tuning Job's downloader and pusher: the image just built, by digest.
        env = {"name": "DATAMOVERS_IMAGE", "value": images["datamovers"]}
        kustomization["patches"] = [
            {
                "target": {"kind": "Deployment", "name": DEPLOYMENTS["workspace-controller"]},
                "patch": json.dumps(
                    [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": env}]
                ),
            }
        ]
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def install(cluster: LocalCluster, images: Mapping[str, str], directory: Path, timeout: float = 240) -> None:
    """Applies the overlay and waits until both Deployments have rolled out and the webhook answers."""
    overlay = write_overlay(directory, images)
    forget_preset_tags(images)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(overlay))
    for crd in ("workspaces.kaito.sh", "machines.karpenter.sh"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    for deployment in DEPLOYMENTS.values():
        wait_rollout(cluster, deployment, timeout)
    cluster.wait_for(lambda: webhook_ready(cluster), "the webhook's caBundle and endpoints", timeout=60)


# Preset images the catalog names by tag (the controller builds <registry>/kaito-<preset>:<imageTag>).
PRESET_TAGS = {"kaito-tiny-llama": "0.0.1"}


def forget_preset_tags(images: Mapping[str, str]) -> None:
    """A rebuilt preset image keeps its catalog tag; the real node would go on running the copy it
    pulled before (IfNotPresent). Dropping the tag from the node makes its next pod pull the current one."""
    socket = NODE_ROOT / "containerd.sock"
    if not socket.exists():
        return
    for name, tag in PRESET_TAGS.items():
        repo = images[name].partition("@")[0]
        subprocess.run(
            ["ctr", "--address", str(socket), "-n", "k8s.io", "images", "rm", f"{repo}:{tag}"],
            capture_output=True,
            check=False,
        )


def uninstall(cluster: LocalCluster) -> None:
    """Removes the controllers, their Services and the webhook configuration; CRDs, RBAC and the
    tuning templates stay (other tests run controllers as processes against them)."""
    cluster.kubectl("delete", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "--ignore-not-found")
    cluster.kubectl(
        "delete",
        "deployments,services,poddisruptionbudgets",
        "-n",
        SYSTEM_NAMESPACE,
        "-l",
        "app.kubernetes.io/part-of=kaito",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=90s",
        check=False,
        timeout=120,
    )
    cluster.kubectl(
        "delete", "service", "kaito-workspace-webhook", "-n", SYSTEM_NAMESPACE, "--ignore-not-found"
    )
    cluster.wait_for(lambda: not controller_pods(cluster), "controller pods gone", timeout=90)
    # The next leader (a test's own process) should not wait out a lease the pods held.
    for lease in LEASES.values():
        cluster.kubectl("delete", "lease", lease, "-n", SYSTEM_NAMESPACE, "--ignore-not-found", check=False)


def controller_pods(cluster: LocalCluster, name: str | None = None) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/name={DEPLOYMENTS[name]}" if name else "app.kubernetes.io/part-of=kaito"
    got = cluster.get_json("pods", "-n", SYSTEM_NAMESPACE, "-l", selector) or {}
    return list(got.get("items", []))


def leader(cluster: LocalCluster, name: str) -> str | None:
    """The pod holding ``name``'s Lease: its identity is ``<hostname>_<uuid>``, the hostname the pod name."""
    lease = cluster.get_json("lease", LEASES[name], "-n", SYSTEM_NAMESPACE) or {}
    holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
    return holder.split("_", 1)[0] or None


def webhook_ready(cluster: LocalCluster) -> bool:
    config = cluster.get_json("validatingwebhookconfiguration", WEBHOOK_CONFIGURATION) or {}
    hooks = config.get("webhooks") or []
    if not hooks or not (hooks[0].get("clientConfig") or {}).get("caBundle"):
        return False
    slices = (
        cluster.get_json(
            "endpointslices",
            "-n",
            SYSTEM_NAMESPACE,
            "-l",
            "kubernetes.io/service-name=kaito-workspace-webhook",
        )
        or {}
    )
    return any(
        (e.get("conditions") or {}).get("ready")
        for s in slices.get("items", [])
        for e in s.get("endpoints") or []
    )


def describe_pods(cluster: LocalCluster) -> str:
    lines = []
    for pod in controller_pods(cluster):
        name = pod["metadata"]["name"]
        statuses = json.dumps((pod.get("status") or {}).get("containerStatuses") or [])[:600]
        lines.append(f"{name}: {pod.get('status', {}).get('phase')} {statuses}")
        logs = cluster.kubectl("logs", name, "-n", SYSTEM_NAMESPACE, "--tail=15", check=False)
        lines.append(logs.stdout or logs.stderr)
    return "\n".join(lines)


def wait_rollout(
    cluster: LocalCluster, deployment: str, timeout: float = 180, namespace: str = SYSTEM_NAMESPACE
) -> None:
    out = cluster.kubectl(
        "rollout",
        "status",
        f"deployment/{deployment}",
        "-n",
        namespace,
        f"--timeout={int(timeout)}s",
        check=False,
        timeout=timeout + 30,
    )
    if out.returncode != 0:
        raise ClusterError(f"{deployment} did not roll out: {out.stderr.strip()}\n{describe_pods(cluster)}")


@contextlib.contextmanager
def port_forward(cluster: LocalCluster, target: str, namespace: str, port: int) -> Iterator[int]:
    """``kubectl port-forward <target> :<port>`` (apiserver -> kubelet -> pod, all on this machine), as a
    user tries a Service by hand; yields the local port."""
    cmd = [
        str(cluster.bin_dir / "kubectl"),
        f"--kubeconfig={cluster.kubeconfig}",
        "port-forward",
        "-n",
        namespace,
        "--address=127.0.0.1",
        target,
        f":{port}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            rest = proc.stdout.read() if proc.poll() is not None else ""
            raise ClusterError(f"port-forward {target} failed: {line}{rest}")
        yield int(match.group(1))
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def post_json(port: int, path: str, body: Mapping[str, Any] | None, timeout: float = 60) -> tuple[int, Any]:
    """POSTs ``body`` as JSON (a GET when it is None) to a port-forwarded pod; the status and the decoded
    answer (the text of an error)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode(errors="replace")
