"""What an operator installs and watches: a real Prometheus scraping both controllers, and the shipped
RBAC, which lets each controller do its job and nothing more."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from e2e.conftest import System, workspace_manifest
from e2e.harness import PROVISIONER_SA, SYSTEM_NAMESPACE, WORKSPACE_SA, Prometheus

pytestmark = [pytest.mark.cluster]


@pytest.mark.slow
def test_prometheus_scrapes_both_controllers(
    cluster: LocalCluster, system: System, namespace: str, tmp_path: Path
) -> None:
    gp = system.provisioner(extra=["--provider=local"])
    wc = system.workspace_controller()
    gp.wait_ready()
    wc.wait_ready()
    prom = Prometheus(
        tmp_path / "prometheus",
        {
            "kaito-workspace-controller": [f"127.0.0.1:{wc.metrics_port}"],
            "gpu-provisioner": [f"127.0.0.1:{gp.metrics_port}"],
        },
    ).start()
    try:
        cluster.apply(workspace_manifest("scraped", namespace, {"apps": f"prom-{uuid.uuid4().hex[:6]}"}))
        system.wait_ready(namespace, "scraped")

        def series(promql: str) -> list[dict[str, Any]]:
            return prom.query(promql)

        cluster.wait_for(
            lambda: (
                series('up{job="kaito-workspace-controller"} == 1')
                and series('up{job="gpu-provisioner"} == 1')
            ),
            "both targets up",
            timeout=30,
        )
        wanted = [
            'controller_runtime_reconcile_total{job="kaito-workspace-controller",controller="workspace"}',
            'controller_runtime_reconcile_total{job="gpu-provisioner"}',
            'workqueue_adds_total{job="kaito-workspace-controller"}',
            'workqueue_depth{job="gpu-provisioner"}',
            'rest_client_requests_total{job="kaito-workspace-controller"}',
            'leader_election_master_status{job="kaito-workspace-controller"} == 1',
            'leader_election_master_status{job="gpu-provisioner"} == 1',
            'kaito_workspace_count{job="kaito-workspace-controller"}',
        ]
        for promql in wanted:
            cluster.wait_for(lambda q=promql: series(q), f"series {promql}", timeout=30)
        reconciles = series('sum(controller_runtime_reconcile_total{job="kaito-workspace-controller"})')
        assert float(reconciles[0]["value"][1]) > 0
    finally:
        prom.stop()
    cluster.kubectl("delete", "workspace", "scraped", "-n", namespace, "--timeout=90s")


def _can(cluster: LocalCluster, kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    args = ["auth", "can-i", verb, resource]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    out = cluster.kubectl(*args, check=False, kubeconfig=kubeconfig)
    return out.stdout.strip() == "yes"


def test_rbac_allows_the_job_and_denies_foreign_secrets(
    cluster: LocalCluster, installed: tuple[Path, Path, Path], namespace: str
) -> None:
    _, ws, gp = installed
    # The workspace controller: its job.
    for verb, res, ns in [
        ("create", "machines.karpenter.sh", None),
        ("delete", "machines.karpenter.sh", None),
        ("create", "deployments.apps", namespace),
        ("create", "jobs.batch", namespace),
        ("create", "services", namespace),
        ("patch", "workspaces.kaito.sh/status", namespace),
        ("patch", "nodes", None),
        ("create", "leases.coordination.k8s.io", SYSTEM_NAMESPACE),
    ]:
        assert _can(cluster, ws, verb, res, ns), f"{WORKSPACE_SA} must be able to {verb} {res}"
    # ... and not Secrets of users' namespaces, nor anything it never does.
    for verb, res, ns in [
        ("get", "secrets", namespace),
        ("list", "secrets", None),
        ("get", "secrets", "default"),
        ("delete", "nodes", None),
        ("create", "clusterrolebindings", None),
        ("update", "machines.karpenter.sh/status", None),
    ]:
        assert not _can(cluster, ws, verb, res, ns), f"{WORKSPACE_SA} must not {verb} {res}"
    # The gpu-provisioner: its job.
    for verb, res, ns in [
        ("patch", "machines.karpenter.sh/status", None),
        ("delete", "nodes", None),
        ("create", "nodes", None),
        ("create", "leases.coordination.k8s.io", SYSTEM_NAMESPACE),
    ]:
        assert _can(cluster, gp, verb, res, ns), f"{PROVISIONER_SA} must be able to {verb} {res}"
    for verb, res, ns in [
        ("get", "secrets", namespace),
        ("get", "secrets", SYSTEM_NAMESPACE),
        ("list", "secrets", None),
        ("create", "machines.karpenter.sh", None),
        ("create", "deployments.apps", namespace),
        ("get", "workspaces.kaito.sh", namespace),
    ]:
        assert not _can(cluster, gp, verb, res, ns), f"{PROVISIONER_SA} must not {verb} {res}"
    # A real request, not just a review: reading a user's Secret is refused.
    cluster.kubectl("create", "secret", "generic", "user-secret", "-n", namespace, "--from-literal=k=v")
    denied = cluster.kubectl("get", "secret", "user-secret", "-n", namespace, check=False, kubeconfig=ws)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
