"""Helpers for the API tests that run against the real local cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from e2e.cluster import LocalCluster
from kaito.api.crdgen import render_all

CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crds"
CRD_NAMES = ("workspaces.kaito.sh", "machines.karpenter.sh")


def install_crds(cluster: LocalCluster) -> None:
    """Apply the generated CRDs and wait until the apiserver serves them."""
    files: list[str] = []
    for name in render_all():
        files += ["-f", str(CRD_DIR / name)]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *files)
    for name in CRD_NAMES:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    # Established comes before discovery and the published OpenAPI catch up; `kubectl explain`
    # needs both, and `kubectl get` refreshes kubectl's discovery cache on a miss.
    deadline = time.monotonic() + 60
    while True:
        cluster.kubectl("get", "workspaces", "-A", check=False)
        cluster.kubectl("get", "machines", check=False)
        explained = cluster.kubectl("explain", "workspace.tuning", check=False)
        machine = cluster.kubectl("explain", "machine.spec", check=False)
        if explained.returncode == 0 and machine.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"CRDs not served: {explained.stderr} {machine.stderr}")
        time.sleep(0.5)


def apply(cluster: LocalCluster, namespace: str, obj: dict[str, Any] | str) -> tuple[int, str]:
    """``kubectl apply`` a manifest; (exit code, stdout+stderr)."""
    proc = cluster.apply(obj, "-n", namespace, check=False)
    return proc.returncode, proc.stdout + proc.stderr
