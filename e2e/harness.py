"""Run the system the way an operator would: manifests installed with kubectl, each controller a real
process authenticated as its own ServiceAccount (TokenRequest tokens), so the shipped RBAC is what
is exercised. Shared by ``make demo`` and the e2e suite."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[1]
SYSTEM_NAMESPACE = "kaito-system"
WORKSPACE_SA = "kaito-workspace-controller"
PROVISIONER_SA = "gpu-provisioner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_manifests(cluster: LocalCluster, kustomization: str = "local") -> None:
    """``kubectl apply --server-side -k manifests/<kustomization>``, then wait for the CRDs."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-k", str(REPO / "manifests" / kustomization)
    )
    for crd in ("workspaces.kaito.sh", "machines.karpenter.sh"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def service_account_kubeconfig(
    cluster: LocalCluster, sa: str, path: Path, namespace: str = SYSTEM_NAMESPACE, duration: str = "24h"
) -> Path:
    token = cluster.kubectl("create", "token", sa, "-n", namespace, f"--duration={duration}").stdout.strip()
    return cluster.write_token_kubeconfig(path, token, user=f"system:serviceaccount:{namespace}:{sa}")


@dataclass
class ControllerProcess:
    """One controller binary running as a child process, with its probe and metrics ports."""

    name: str
    argv: list[str]
    log_path: Path
    metrics_port: int
    probe_port: int
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        name: str,
        binary: str,
        kubeconfig: Path,
        log_dir: Path,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        leader_elect: bool = True,
    ) -> ControllerProcess:
        metrics, probe = free_port(), free_port()
        exe = Path(sys.executable).parent / binary
        argv = [
            str(exe),
            f"--kubeconfig={kubeconfig}",
            f"--leader-elect={'true' if leader_elect else 'false'}",
            f"--metrics-bind-address=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{probe}",
            "--log-format=json",
            *extra,
        ]
        log_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            name=name,
            argv=argv,
            log_path=log_dir / f"{name}.log",
            metrics_port=metrics,
            probe_port=probe,
            env=dict(env or {}),
        )

    def start(self, detach: bool = False) -> ControllerProcess:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env={**os.environ, **self.env},
                start_new_session=detach,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            return self._get(self.probe_port, "/readyz")[0] == 200
        return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.process and self.process.returncode}):\n" + self.log_tail()
                )
            if self.ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def metrics(self) -> str:
        return self._get(self.metrics_port, "/metrics")[1]

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
            if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
        return total

    def is_leader(self) -> bool:
        with contextlib.suppress(OSError):
            return self.metric("leader_election_master_status") >= 1
        return False

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class Prometheus:
    """Debian's Prometheus on a free loopback port, scraping the given targets every second."""

    def __init__(self, workdir: Path, jobs: Mapping[str, Sequence[str]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        scrape_configs = [
            {"job_name": job, "scrape_interval": "1s", "static_configs": [{"targets": list(targets)}]}
            for job, targets in jobs.items()
        ]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        exe = "/usr/bin/prometheus"
        if not Path(exe).exists():
            raise RuntimeError("prometheus is not installed: run `bash hack/install-system-deps.sh`")
        log = (self.workdir / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                exe,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return self
            time.sleep(0.3)
        raise TimeoutError("prometheus never became ready")

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        return list(body["data"]["result"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
