"""Start and stop a real Kubernetes control plane on loopback, with kwok for simulated nodes.

Every component is a child process of the Python process that started it. Each child gets
``PR_SET_PDEATHSIG`` so that a crashed or killed test run never leaves an apiserver behind.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster.pki import Pki, make_pki
from e2e.cluster.realnode import RealNode, RealNodeUnavailable, unavailable_reason

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "cluster" / "build.sh"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Where the real node's containerd pulls from (the loopback registry that `make images` pushes to).
REGISTRY = os.environ.get("REGISTRY") or f"127.0.0.1:{os.environ.get('KAITO_REGISTRY_PORT', '5001')}"

# Write verbs at Metadata level, everything else not at all: tests count writes per user from this.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler"]
  - level: None
    userGroups: ["system:nodes"]
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""


class ClusterError(RuntimeError):
    """The local control plane could not be built or started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG = 1: the kernel kills the child when its parent goes away.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def ensure_binaries(quiet: bool = False) -> Path:
    """Build (or find cached) control-plane binaries; returns their directory."""
    if not BUILD_SCRIPT.exists():
        raise ClusterError(f"build script missing: {BUILD_SCRIPT}")
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(f"building the control plane failed (exit {proc.returncode}); see output above")
    return Path(proc.stdout.strip().splitlines()[-1])


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; waits for the exit either way."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def wait_for_components(
    components: Mapping[str, Component], probe: Any, what: str, deadline: float, tail: int = 10
) -> None:
    """Polls ``probe`` until it is true; fails at once, with the log's tail, if a component exits."""
    while time.monotonic() < deadline:
        for comp in components.values():
            if not comp.alive():
                raise ClusterError(f"{comp.name} exited:\n{comp.log_tail()}")
        with contextlib.suppress(Exception):
            if probe():
                return
        time.sleep(0.2)
    tails = "\n".join(f"--- {c.name}\n{c.log_tail(tail)}" for c in components.values())
    raise ClusterError(f"timed out waiting for {what}\n{tails}")


@dataclass
class Component:
    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str] | None = None) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.process, timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class LocalCluster:
    """A running control plane. Create it with :meth:`start`; stop it with :meth:`stop`."""

    workdir: Path
    bin_dir: Path
    pki: Pki
    apiserver_port: int
    etcd_port: int
    kubeconfig: Path
    components: dict[str, Component] = field(default_factory=dict)
    owns_workdir: bool = True
    real_node: RealNode | None = None
    registry: Any = None  # the LoopbackRegistry the real node pulls from, when this cluster started it
    real_node_skipped: str | None = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls,
        workdir: Path | None = None,
        bin_dir: Path | None = None,
        timeout: float = 120.0,
        real_node: bool | None = None,
    ) -> LocalCluster:
        """``real_node``: True requires one, False never starts one, None (the default) starts one where
        this machine can run it and says in ``real_node_skipped`` why not elsewhere. ``KAITO_REAL_NODE=1``
        or ``CI=true`` turn None into True, so CI never silently runs without one."""
        bin_dir = bin_dir or ensure_binaries()
        owns = workdir is None
        workdir = Path(tempfile.mkdtemp(prefix="kaito-cluster-")) if workdir is None else workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)
        pki = make_pki(workdir / "pki", SERVICE_IP)
        cluster = cls(
            workdir=workdir,
            bin_dir=bin_dir,
            pki=pki,
            apiserver_port=_free_port(),
            etcd_port=_free_port(),
            kubeconfig=workdir / "kubeconfig",
            owns_workdir=owns,
        )
        try:
            cluster._write_kubeconfig()
            cluster._start_all(timeout)
            cluster._start_real_node(real_node)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_real_node(self, wanted: bool | None) -> None:
        if wanted is None and (os.environ.get("KAITO_REAL_NODE") == "1" or os.environ.get("CI") == "true"):
            wanted = True
        if wanted is None and os.environ.get("KAITO_REAL_NODE") == "0":
            wanted = False
        if wanted is False:
            self.real_node_skipped = "not asked for"
            return
        reason = unavailable_reason()
        if reason and wanted is None:
            self.real_node_skipped = reason
            return
        if reason:
            raise ClusterError(f"no real node: {reason}")
        if not os.environ.get("REGISTRY"):
            from e2e.images.registry import LoopbackRegistry

            self.registry = LoopbackRegistry()
            self.registry.start()
        node = RealNode(cluster=self, registry=REGISTRY, workdir=self.workdir / "node")
        self.real_node = node
        try:
            node.start()
        except RealNodeUnavailable as err:
            self.real_node = None
            raise ClusterError(f"no real node: {err}") from err
        except RuntimeError as err:
            raise ClusterError(f"the real node did not come up: {err}") from err

    @classmethod
    def attach(cls, workdir: Path, bin_dir: Path, server: str) -> LocalCluster:
        """A handle on a cluster another process runs (``make cluster-up``); :meth:`stop` leaves it be."""
        d = workdir / "pki"
        pki = Pki(
            ca_cert=d / "ca.crt",
            ca_key=d / "ca.key",
            serving_cert=d / "apiserver.crt",
            serving_key=d / "apiserver.key",
            admin_cert=d / "admin.crt",
            admin_key=d / "admin.key",
            sa_key=d / "sa.key",
            sa_pub=d / "sa.pub",
        )
        return cls(
            workdir=workdir,
            bin_dir=bin_dir,
            pki=pki,
            apiserver_port=int(server.rsplit(":", 1)[1]),
            etcd_port=0,
            kubeconfig=workdir / "kubeconfig",
            owns_workdir=False,
        )

    def stop(self) -> None:
        if self.real_node is not None:
            errors = self.real_node.stop()
            self.real_node = None
            if errors:
                print("real node teardown left:\n  " + "\n  ".join(errors), flush=True)
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
        # Reverse start order: kwok and the controllers first, etcd last, so the apiserver can drain.
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            comp = self.components.get(name)
            if comp is not None:
                comp.stop()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def service_cidr(self) -> str:
        return SERVICE_CIDR

    @property
    def audit_log(self) -> Path:
        return self.workdir / "logs" / "audit.log"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    def pids(self) -> dict[str, int]:
        return {n: c.process.pid for n, c in self.components.items() if c.process and c.alive()}

    # ------------------------------------------------------------------ components
    def _start_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._start_etcd()
        self._wait(lambda: self._http_ok(f"{self.etcd_url}/health"), "etcd", deadline)
        self.start_apiserver(wait=False)
        self._wait(self._apiserver_ready, "kube-apiserver", deadline)
        self._start_controller_manager()
        self._start_scheduler()
        self._start_kwok()
        # The serviceaccount controller creating "default" proves kube-controller-manager works.
        self._wait(
            lambda: self._get_json("/api/v1/namespaces/default/serviceaccounts/default") is not None,
            "kube-controller-manager (default ServiceAccount)",
            deadline,
        )

    def _start_etcd(self) -> None:
        peer = _free_port()
        args = [
            str(self.bin_dir / "etcd"),
            "--name=local",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=local=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]
        self._launch("etcd", args)

    def _apiserver_args(self) -> list[str]:
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        p = self.pki
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={p.serving_cert}",
            f"--tls-private-key-file={p.serving_key}",
            f"--client-ca-file={p.ca_cert}",
            f"--requestheader-client-ca-file={p.ca_cert}",
            "--requestheader-allowed-names=",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={p.admin_cert}",
            f"--proxy-client-key-file={p.admin_key}",
            # logs, exec and port-forward reach a real kubelet at its InternalIP (the pod bridge's gateway,
            # kwok's 127.0.0.1), authenticated: no name lookup, no anonymous kubelet.
            f"--kubelet-client-certificate={p.admin_cert}",
            f"--kubelet-client-key={p.admin_key}",
            "--kubelet-preferred-address-types=InternalIP",
            # Webhook and aggregated-API Services are dialed at a ready endpoint, not the ClusterIP: the
            # latter only works once kube-proxy has programmed it, which lags the endpoint by up to half
            # a second (a webhook refused "connection refused" right after its replicas were ready).
            "--enable-aggregator-routing=true",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-maxsize=200",
            "--audit-log-format=json",
            # KAITO_APISERVER_PROFILING=1 serves /debug/pprof, to see where a benchmark's apiserver CPU goes.
            f"--profiling={'true' if os.environ.get('KAITO_APISERVER_PROFILING') == '1' else 'false'}",
        ]

    def start_apiserver(self, wait: bool = True, timeout: float = 60.0) -> None:
        self._launch("kube-apiserver", self._apiserver_args())
        if wait:
            self._wait(self._apiserver_ready, "kube-apiserver", time.monotonic() + timeout)

    def stop_apiserver(self, kill: bool = False) -> None:
        comp = self.components["kube-apiserver"]
        if kill and comp.process is not None and comp.alive():
            comp.process.kill()
            comp.process.wait(timeout=10)
        else:
            comp.stop()

    def restart_apiserver(self, kill: bool = True) -> None:
        """Kill the apiserver (SIGKILL by default, as a crash would) and start it again on the same port."""
        self.stop_apiserver(kill=kill)
        self.start_apiserver(wait=True)

    def _kubeconfig_flags(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
        ]

    def _start_controller_manager(self) -> None:
        p = self.pki
        args = [
            str(self.bin_dir / "kube-controller-manager"),
            *self._kubeconfig_flags(),
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            f"--root-ca-file={p.ca_cert}",
            f"--service-account-private-key-file={p.sa_key}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={p.ca_cert}",
            f"--cluster-signing-key-file={p.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-ttl,-service-lb-controller,-node-route-controller",
            # kwok renews node Leases every 50 s; these are kwokctl's own values (heartbeat factor 5).
            "--node-monitor-period=25s",
            "--node-monitor-grace-period=200s",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--concurrent-job-syncs=10",
            "--concurrent-gc-syncs=20",
            "--concurrent-statefulset-syncs=10",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ]
        self._launch("kube-controller-manager", args)

    def _start_scheduler(self) -> None:
        args = [
            str(self.bin_dir / "kube-scheduler"),
            *self._kubeconfig_flags(),
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ]
        self._launch("kube-scheduler", args)

    def _start_kwok(self) -> None:
        args = [
            str(self.bin_dir / "kwok"),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.bin_dir / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1",
            f"--cidr={POD_CIDR}",
            f"--server-address=127.0.0.1:{_free_port()}",
            "--node-lease-duration-seconds=200",
        ]
        # kwok reads ~/.kwok/kwok.yaml first if it exists; point HOME away so a user's file cannot interfere.
        env = dict(os.environ, HOME=str(self.workdir))
        self._launch("kwok", args, env=env)

    def _launch(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        comp = Component(name=name, args=args, log_path=self.workdir / "logs" / f"{name}.log")
        comp.start(env)
        self.components[name] = comp

    # ------------------------------------------------------------------ readiness / http
    def _wait(self, probe: Any, what: str, deadline: float) -> None:
        wait_for_components(self.components, probe, what, deadline)

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return ctx

    @staticmethod
    def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return 200 <= int(resp.status) < 300

    def _apiserver_ready(self) -> bool:
        return self._http_ok(f"{self.server}/readyz", self._ssl_context())

    def _get_json(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.server}{path}", timeout=5, context=self._ssl_context()) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    # ------------------------------------------------------------------ kubeconfig / kubectl
    def kubeconfig_dict(self, user: str = "admin", token: str | None = None) -> dict[str, Any]:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        creds: dict[str, str] = (
            {"token": token}
            if token is not None
            else {
                "client-certificate-data": b64(self.pki.admin_cert),
                "client-key-data": b64(self.pki.admin_key),
            }
        )
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(self.pki.ca_cert)},
                }
            ],
            "users": [{"name": user, "user": creds}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
            "current-context": "local",
        }

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_dict()))
        self.kubeconfig.chmod(0o600)

    def write_token_kubeconfig(self, path: Path, token: str, user: str = "sa") -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(user=user, token=token)))
        path.chmod(0o600)
        return path

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        kubeconfig: Path | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def apply(
        self, manifest: str | dict[str, Any] | Sequence[dict[str, Any]], *extra: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # JSON, not PyYAML: PyYAML leaves a string such as "20674e-7" unquoted, and kubectl's YAML reader
        # takes it for a float.
        if isinstance(manifest, str):
            text = manifest
        elif isinstance(manifest, dict):
            text = json.dumps(manifest)
        else:
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifest)})
        return self.kubectl("apply", "-f", "-", *extra, input=text, check=check)

    # ------------------------------------------------------------------ test helpers
    def compact_etcd(self) -> int:
        """Compact etcd at its current revision, so any older resourceVersion answers 410 Gone."""

        def post(path: str, body: dict[str, Any]) -> Any:
            req = urllib.request.Request(
                f"{self.etcd_url}{path}",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())

        rev = int(post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev

    def gpu_node_manifest(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        gpus: int = 1,
        instance_type: str = "Standard_NC6s_v3",
        provider_id: str | None = None,
        gpu_memory: str | None = None,
        taints: Sequence[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        all_labels = {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": name,
            "node.kubernetes.io/instance-type": instance_type,
            "type": "kwok",
            **(labels or {}),
        }
        capacity = {
            "cpu": "32",
            "memory": "256Gi",
            "pods": "110",
            "ephemeral-storage": "1Ti",
            "nvidia.com/gpu": str(gpus),
        }
        spec: dict[str, Any] = {
            "taints": [
                {"key": KWOK_NODE_ANNOTATION, "value": "fake", "effect": "NoSchedule"},
                *map(dict, taints),
            ]
        }
        if provider_id:
            spec["providerID"] = provider_id
        annotations = {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"}
        if gpu_memory:
            annotations["kaito.sh/gpu-memory"] = gpu_memory
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": all_labels, "annotations": annotations},
            "spec": spec,
            "status": {"capacity": capacity, "allocatable": dict(capacity), "phase": "Running"},
        }

    def make_gpu_node(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        gpus: int = 1,
        instance_type: str = "Standard_NC6s_v3",
        provider_id: str | None = None,
        taints: Sequence[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        """Create a kwok-managed Node with ``nvidia.com/gpu`` capacity; kwok marks it Ready."""
        manifest = self.gpu_node_manifest(name, labels, gpus, instance_type, provider_id, taints=taints)
        self.kubectl("create", "-f", "-", input=json.dumps(manifest))
        return manifest

    def wait_for(self, probe: Any, what: str, timeout: float = 60.0, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(interval)
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    def get_json(self, *args: str) -> Any:
        out = self.kubectl("get", *args, "-o", "json", check=False)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def audit_events(self) -> Iterator[dict[str, Any]]:
        if not self.audit_log.exists():
            return
        with self.audit_log.open() as fh:
            for line in fh:
                with contextlib.suppress(json.JSONDecodeError):
                    yield json.loads(line)

    def __repr__(self) -> str:
        return f"LocalCluster(server={self.server}, workdir={self.workdir})"
