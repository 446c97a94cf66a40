"""``make demo``: the local cluster, both controllers, and the example workspaces to Ready.

``python -m e2e.demo`` runs it; ``python -m e2e.demo stop`` stops the controllers it started (``make
cluster-down`` calls that before stopping the cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
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

STATE_DIR = REPO / ".cluster"
PIDS = STATE_DIR / "controllers.json"
EXAMPLES = [
    REPO / "examples" / "inference",
    REPO / "examples" / "fine-tuning" / "kaito_workspace_tuning_phi_3.yaml",
]
KWOK_TOLERATION = "kwok.x-k8s.io/node:NoSchedule"
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT_S", "180"))


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def attach() -> LocalCluster:
    """The cluster that ``python -m e2e.cluster up`` runs in the background, as a LocalCluster handle."""
    subprocess.run([sys.executable, "-m", "e2e.cluster", "up"], cwd=REPO, check=True)
    state = json.loads((STATE_DIR / "state.json").read_text())
    cluster = LocalCluster.attach(STATE_DIR / "work", Path(state["bin_dir"]), str(state["server"]))
    return cluster


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


def main() -> int:
    if sys.argv[1:] == ["stop"]:
        stop_controllers()
        return 0
    started = time.monotonic()
    ensure_binaries()
    cluster = attach()
    say("installing CRDs, RBAC and tuning templates (manifests/local)")
    install_manifests(cluster, "local")
    procs = start_controllers(cluster)
    for example in EXAMPLES:
        say(f"kubectl apply -f {example.relative_to(REPO)}")
        cluster.kubectl("apply", "-f", str(example))
    last: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        rows = workspace_rows(cluster)
        for name, conds in rows.items():
            if conds != last.get(name):
                shown = ", ".join(f"{k}={v}" for k, v in sorted(conds.items()))
                say(f"{name}: {shown}")
        last = rows
        if len(rows) >= 2 and all(c.get("WorkspaceReady") == "True" for c in rows.values()):
            break
        for name, proc in procs.items():
            if not proc.alive():
                say(f"{name} exited:\n{proc.log_tail()}")
                return 1
        time.sleep(1)
    print()
    print(cluster.kubectl("get", "workspace", "-A").stdout)
    print(cluster.kubectl("get", "machines,nodes").stdout)
    ok = len(last) >= 2 and all(c.get("WorkspaceReady") == "True" for c in last.values())
    if not ok:
        say("not every workspace became Ready; `kubectl describe workspace` tells why")
        return 1
    say(f"all workspaces Ready in {time.monotonic() - started:.0f}s")
    print(f"""
The cluster and both controllers keep running. Explore:
  export KUBECONFIG={STATE_DIR / "kubeconfig"} PATH={STATE_DIR / "bin"}:$PATH
  kubectl get workspace,machines,nodes,deployments,jobs,services -A
  kubectl describe workspace workspace-phi-3-mini
Controller logs: {STATE_DIR / "logs"}
Clean up:
  kubectl delete workspace --all      # Machines and simulated nodes go with them
  make cluster-down                   # stops the controllers and the cluster
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
