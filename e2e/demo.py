"""``make demo``: the local cluster, both controllers, and the example workspaces to Ready.

With a real node (root on Linux: these machines and CI), both controllers and the webhook run as pods
from the images ``make images`` built, the webhook refuses a bad Workspace through its Service, and
the tiny-llama workspace answers a chat completion through ``kubectl port-forward``. Without one, the
controllers run as local processes and every pod is simulated by kwok, as the demo says.

``python -m e2e.demo`` runs it; ``python -m e2e.demo stop`` stops the controllers it started as
processes (``make cluster-down`` calls that before stopping the cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from e2e.cluster.localcluster import LocalCluster, ensure_binaries
from e2e.harness import (
    PROVISIONER_SA,
    REPO,
    SYSTEM_NAMESPACE,
    WORKSPACE_SA,
    ControllerProcess,
    install_manifests,
    service_account_kubeconfig,
)
from e2e.images import build_all
from e2e.incluster import controller_pods, describe_pods, install, port_forward
from e2e.tuningflow import (
    REAL_NODE_SELECTOR,
    TINY,
    ask_hello,
    data_server,
    node_registry_password,
    registry_secret,
    training_data,
    workspace_state,
)

STATE_DIR = REPO / ".cluster"
PIDS = STATE_DIR / "controllers.json"
EXAMPLES = [
    REPO / "examples" / "inference" / "kaito_workspace_phi_3.yaml",
    REPO / "examples" / "fine-tuning" / "kaito_workspace_tuning_phi_3.yaml",
]
TINY_EXAMPLE = REPO / "examples" / "inference" / "kaito_workspace_tiny_llama.yaml"
TINY_WORKSPACE = "workspace-tiny-llama"
TUNING_EXAMPLE = REPO / "examples" / "fine-tuning" / "kaito_workspace_tuning_tiny_llama.yaml"
TUNING_WORKSPACE = "workspace-tuning-tiny-llama"
TUNED_WORKSPACE = "workspace-tiny-llama-tuned"
# The example names this address: a ClusterIP for the demo's data server, inside the service CIDR.
DATA_SERVER_IP = "10.96.200.10"
TUNING_TIMEOUT_S = float(os.environ.get("DEMO_TUNING_TIMEOUT_S", "420"))
# Refused by the webhook: the preset does not exist.
BAD_WORKSPACE = {
    "apiVersion": "kaito.sh/v1alpha1",
    "kind": "Workspace",
    "metadata": {"name": "workspace-refused", "namespace": "default"},
    "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": "refused"}}},
    "inference": {"preset": {"name": "no-such-model"}},
}
KWOK_TOLERATION = "kwok.x-k8s.io/node:NoSchedule"
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT_S", "180"))


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def attach() -> tuple[LocalCluster, dict[str, object]]:
    """The cluster that ``python -m e2e.cluster up`` runs in the background, as a LocalCluster handle,
    and its state (whether it has a real node, and if not why)."""
    subprocess.run([sys.executable, "-m", "e2e.cluster", "up"], cwd=REPO, check=True)
    state = json.loads((STATE_DIR / "state.json").read_text())
    cluster = LocalCluster.attach(STATE_DIR / "work", Path(state["bin_dir"]), str(state["server"]))
    return cluster, state


def stop_controllers() -> None:
    if not PIDS.exists():
        return
    for name, pid in json.loads(PIDS.read_text()).items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
            say(f"stopping {name} (pid {pid})")
    deadline = time.monotonic() + 30
    for pid in json.loads(PIDS.read_text()).values():
        while time.monotonic() < deadline:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
    PIDS.unlink()


def start_controllers(cluster: LocalCluster) -> dict[str, ControllerProcess]:
    stop_controllers()
    logs = STATE_DIR / "logs"
    ws_kc = service_account_kubeconfig(cluster, WORKSPACE_SA, STATE_DIR / "workspace-controller.kubeconfig")
    gp_kc = service_account_kubeconfig(cluster, PROVISIONER_SA, STATE_DIR / "gpu-provisioner.kubeconfig")
    procs = {
        "gpu-provisioner": ControllerProcess.create(
            "gpu-provisioner",
            "gpu-provisioner",
            gp_kc,
            logs,
            extra=["--provider=local", f"--leader-election-namespace={SYSTEM_NAMESPACE}"],
        ),
        "workspace-controller": ControllerProcess.create(
            "workspace-controller",
            "kaito-workspace-controller",
            ws_kc,
            logs,
            extra=[f"--release-namespace={SYSTEM_NAMESPACE}", f"--extra-toleration={KWOK_TOLERATION}"],
        ),
    }
    for proc in procs.values():
        proc.start(detach=True)
    PIDS.write_text(json.dumps({n: p.pid for n, p in procs.items()}))
    for name, proc in procs.items():
        proc.wait_ready()
        say(f"{name} running as its ServiceAccount (pid {proc.pid}, log {proc.log_path.relative_to(REPO)})")
    return procs


def workspace_rows(cluster: LocalCluster) -> dict[str, dict[str, str]]:
    items = (cluster.get_json("workspaces", "-A") or {}).get("items", [])
    rows = {}
    for ws in items:
        conds = {c["type"]: c.get("status", "") for c in (ws.get("status") or {}).get("conditions") or []}
        conds["STATE"] = str((ws.get("status") or {}).get("state", ""))
        rows[ws["metadata"]["name"]] = conds
    return rows


def wait_ready(cluster: LocalCluster, expected: int, alive: Callable[[], str | None]) -> bool:
    last: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        rows = workspace_rows(cluster)
        for name, conds in rows.items():
            if conds != last.get(name):
                shown = ", ".join(f"{k}={v}" for k, v in sorted(conds.items()))
                say(f"{name}: {shown}")
        last = rows
        if len(rows) >= expected and all(c.get("WorkspaceReady") == "True" for c in rows.values()):
            return True
        problem = alive()
        if problem:
            say(problem)
            return False
        time.sleep(1)
    return False


def run_with_processes(cluster: LocalCluster, reason: str) -> bool:
    say(f"no real node ({reason}): controllers run as local processes and kwok simulates every pod")
    say("installing CRDs, RBAC and tuning templates (manifests/local)")
    install_manifests(cluster, "local")
    procs = start_controllers(cluster)
    for example in EXAMPLES:
        say(f"kubectl apply -f {example.relative_to(REPO)}")
        cluster.kubectl("apply", "-f", str(example))

    def alive() -> str | None:
        for name, proc in procs.items():
            if not proc.alive():
                return f"{name} exited:\n{proc.log_tail()}"
        return None

    return wait_ready(cluster, len(EXAMPLES), alive)


def run_on_real_node(cluster: LocalCluster) -> bool:
    stop_controllers()
    say("building the images (make images: cached by content, pushed to the loopback registry)")
    images = build_all()
    for name, ref in sorted(images.items()):
        say(f"  {name}: {ref}")
    say("installing manifests/realnode: both controllers and the webhook as Deployments on the real node")
    install(cluster, images, STATE_DIR / "overlay")
    print(cluster.kubectl("get", "pods", "-n", SYSTEM_NAMESPACE, "-o", "wide").stdout)
    say("a Workspace the webhook must refuse (through its Service):")
    refused = cluster.apply(BAD_WORKSPACE, check=False)
    print(f"  $ kubectl apply -f - (preset no-such-model)\n  {refused.stderr.strip()}\n")
    if refused.returncode == 0:
        say("the webhook accepted a Workspace with an unknown preset")
        return False
    # On the real node, tuning runs for real (below); a simulated tuning Job would only say it did.
    examples = [EXAMPLES[0], TINY_EXAMPLE]
    say(f"{EXAMPLES[0].relative_to(REPO)} runs on simulated GPU capacity (kwok); tiny-llama on the real node")
    for example in examples:
        say(f"kubectl apply -f {example.relative_to(REPO)}")
        cluster.kubectl("apply", "-f", str(example))

    def alive() -> str | None:
        pods = controller_pods(cluster)
        crashing = [
            p["metadata"]["name"]
            for p in pods
            for c in p["status"].get("containerStatuses") or []
            if (c.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
        ]
        return f"controller pods crash: {crashing}\n{describe_pods(cluster)}" if crashing else None

    if not wait_ready(cluster, len(examples), alive):
        return False
    say(f"kubectl port-forward svc/{TINY_WORKSPACE} :80, then POST /v1/chat/completions")
    base = chat(cluster, TINY_WORKSPACE, TINY, verbose=True)
    if base is None:
        return False
    say(f"tiny-llama answered: {base!r}")
    return tune_push_serve(cluster, images, base)


def chat(cluster: LocalCluster, service: str, model: str, verbose: bool = False) -> str | None:
    with port_forward(cluster, f"svc/{service}", "default", 80) as port:
        status, reply = ask_hello(port, model, max_tokens=16)
    if verbose or status != 200:
        print(json.dumps(reply, indent=2) if status == 200 else f"HTTP {status}: {reply}")
    return str(reply["choices"][0]["message"]["content"]) if status == 200 else None


def tune_push_serve(cluster: LocalCluster, images: dict[str, str], base: str) -> bool:
    """The docs' flow on the tiny model: tune from URL data, push the adapter, serve with it."""
    say(f"freeing the real node's one GPU: kubectl delete workspace {TINY_WORKSPACE}")
    cluster.kubectl("delete", "workspace", TINY_WORKSPACE, "--timeout=120s", timeout=150)
    say(f"a data server in the cluster at {DATA_SERVER_IP} (allowed by the controller's --egress-allow)")
    url = data_server(cluster, "default", images["datamovers"], training_data(), cluster_ip=DATA_SERVER_IP)
    password = node_registry_password(cluster)
    for secret in ("tiny-push", "tiny-pull"):
        registry_secret(cluster, "default", secret, password)
    say(f"push and pull secrets for the node registry; kubectl apply -f {TUNING_EXAMPLE.relative_to(REPO)}")
    say(f"  (downloads {url}, trains LoRA on the real node's CPU, pushes the adapter as an image)")
    cluster.kubectl("apply", "-f", str(TUNING_EXAMPLE))
    deadline = time.monotonic() + TUNING_TIMEOUT_S
    shown = ("", "")
    while time.monotonic() < deadline:
        state = workspace_state(cluster, "default", TUNING_WORKSPACE)
        if state != shown:
            say(f"{TUNING_WORKSPACE}: {state[0] or 'Pending'}: {state[1]}")
            shown = state
        if state[0] in ("Succeeded", "Failed"):
            break
        time.sleep(2)
    if shown[0] != "Succeeded":
        return False
    pushed = cluster.get_json("workspace", TUNING_WORKSPACE)["status"]["outputImage"]
    say(f"status.outputImage: {pushed}")
    served = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": TUNED_WORKSPACE, "namespace": "default"},
        "resource": {
            "instanceType": "Standard_NC4as_T4_v3",
            "labelSelector": {"matchLabels": REAL_NODE_SELECTOR},
        },
        "inference": {
            "preset": {"name": TINY},
            "adapters": [
                {
                    "source": {"name": "tuned", "image": pushed, "imagePullSecrets": ["tiny-pull"]},
                    "strength": "1.0",
                }
            ],
        },
    }
    say(f"serving tiny-llama with the adapter: {TUNED_WORKSPACE}")
    cluster.apply(served)
    if not wait_ready(cluster, 2, lambda: None):
        return False
    tuned = chat(cluster, TUNED_WORKSPACE, "tuned")
    if tuned is None:
        return False
    say(f"without the adapter tiny-llama said {base!r}; with it: {tuned!r}")
    if tuned == base:
        say("the adapter did not change the greedy answer")
        return False
    return True


def main() -> int:
    if sys.argv[1:] == ["stop"]:
        stop_controllers()
        return 0
    started = time.monotonic()
    ensure_binaries()
    cluster, state = attach()
    if state.get("real_node"):
        ok = run_on_real_node(cluster)
    else:
        ok = run_with_processes(cluster, str(state.get("real_node_skipped") or "not available"))
    print()
    print(cluster.kubectl("get", "workspace", "-A").stdout)
    print(cluster.kubectl("get", "machines,nodes").stdout)
    if not ok:
        say("not every step worked; `kubectl describe workspace` and the controller logs tell why")
        return 1
    say(f"done in {time.monotonic() - started:.0f}s")
    logs = (
        f"kubectl logs -n {SYSTEM_NAMESPACE} deploy/kaito-workspace-controller"
        if state.get("real_node")
        else str(STATE_DIR / "logs")
    )
    print(f"""
The cluster and both controllers keep running. Explore:
  export KUBECONFIG={STATE_DIR / "kubeconfig"} PATH={STATE_DIR / "bin"}:$PATH
  kubectl get workspace,machines,nodes,deployments,jobs,services -A
  kubectl describe workspace workspace-phi-3-mini
Controller logs: {logs}
Clean up:
  kubectl delete workspace --all      # Machines and simulated nodes go with them
  make cluster-down                   # stops the controllers and the cluster, undoes the real node
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
