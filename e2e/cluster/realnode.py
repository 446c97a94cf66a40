"""A real node for the local control plane: containerd + runc + bridge CNI, a kubelet and kube-proxy.

Pods that tolerate the node's taint really run here. The node joins the plane that
:class:`~e2e.cluster.localcluster.LocalCluster` runs; kwok nodes stay for simulated GPU capacity.

Everything stays on this machine: before any pod network exists, the pod supernet and the service CIDR
are routed to blackholes (the service CIDR also into a port-less sink bridge, so kube-proxy's DNAT sees
host connections), forwarding into or out of the pod bridge from anywhere else is dropped, nothing is
masqueraded, and pods resolve DNS against 127.0.0.1 (nothing). Every host change goes through a
:class:`~e2e.cluster.hostchanges.Ledger` so that :meth:`RealNode.stop` undoes all of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from e2e.cluster.hostchanges import Ledger, cgroup_dirs, kill_and_wait, run
from e2e.cluster.pause import PAUSE_IMAGE, pause_image_tar
from e2e.cluster.pki import issue_client_cert

NODE_NAME = "kaito-realnode"
POD_SUPERNET = "10.245.0.0/16"
NODE_POD_CIDR = "10.245.0.0/24"
GATEWAY = "10.245.0.1"
BRIDGE = "kaito-br0"
SERVICE_SINK = "kaito-svc0"
APISERVER_RELAY_PORT = 16443
# A registry on the node network, as a cluster's own registry would be (an ACR on a private endpoint):
# pods push tuned adapters to it with a push secret and the kubelet pulls them back with a pull secret.
# It asks for basic auth; the user and a password made at start are in NODE_REGISTRY_USER/.password.
NODE_REGISTRY_PORT = 5002
NODE_REGISTRY = f"{GATEWAY}:{NODE_REGISTRY_PORT}"
NODE_REGISTRY_USER = "kaito"
TAINT_KEY = "kaito.sh/real-node"
INSTANCE_TYPE = "Standard_NC4as_T4_v3"
NODE_LABELS = {
    TAINT_KEY: "true",
    "node.kubernetes.io/instance-type": INSTANCE_TYPE,
    "accelerator": "nvidia",
}
GPU_CAPACITY = "1"
LOCK_FILE = Path("/run/kaito-realnode.lock")
# One real node per machine, so one ledger at a fixed place: whoever takes the lock next (another
# checkout, CI after a killed session) can undo what a dead predecessor left. /run goes with a reboot,
# as do the routes, rules and processes it lists.
LEDGER_FILE = Path("/run/kaito-realnode-ledger.json")
# containerd's and the kubelet's roots, sockets and state: a short fixed path, as unix socket paths are
# limited to 107 bytes (the kubelet's pod-resources socket under a test's temporary directory was not);
# on disk, not /run's tmpfs, since images and emptyDirs live here.
NODE_ROOT = Path("/var/lib/kaito-realnode")
# Paths the kubelet, containerd's shims and iptables create at fixed places, whatever their settings say.
FIXED_HOST_PATHS = (
    NODE_ROOT,
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/run/xtables.lock"),
)
REQUIRED_TOOLS = (
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
    "ctr",
    "iptables",
    "socat",
    "ip",
    "gcc",
    "docker-registry",
)
CNI_DIR = Path("/usr/lib/cni")


class RealNodeUnavailable(RuntimeError):
    """This machine cannot run a real node (no root, not Linux, missing packages); says why in one line."""


def release_stale_lock() -> bool:
    """Removes the lock file a killed supervisor left; False when a live real node still holds it."""
    if not LOCK_FILE.exists():
        return True
    with LOCK_FILE.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        LOCK_FILE.unlink()
    return True


def unavailable_reason() -> str | None:
    """Why a real node cannot run here, or None when it can."""
    if platform.system() != "Linux":
        return f"a real node needs Linux (this is {platform.system()})"
    if os.geteuid() != 0:
        return "a real node needs root (kubelet, containerd and the pod network change the host)"
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if not (CNI_DIR / "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        return f"missing {', '.join(missing)}: run `make system-deps` (Debian packages)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealNode:
    """One real node. :meth:`start` brings it up and waits until it is Ready; :meth:`stop` removes it
    and undoes every change to the host."""

    cluster: Any  # LocalCluster (imported lazily by it, to avoid an import cycle)
    registry: str
    workdir: Path
    ledger: Ledger = field(init=False)
    components: dict[str, Any] = field(default_factory=dict)
    _lock: IO[str] | None = None

    def __post_init__(self) -> None:
        self.ledger = Ledger.load(LEDGER_FILE)

    # ------------------------------------------------------------------ paths
    @property
    def containerd_socket(self) -> Path:
        return NODE_ROOT / "containerd.sock"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 120.0) -> None:
        reason = unavailable_reason()
        if reason:
            raise RealNodeUnavailable(reason)
        self._take_lock()
        self.ledger = Ledger.load(LEDGER_FILE)
        if self.ledger.entries:
            # A supervisor that was killed left its changes: undo them before making new ones.
            errors = self.ledger.undo()
            if errors:
                raise RuntimeError(f"could not undo a previous real node's changes: {errors}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.ledger.save_sysctls()
        for path in FIXED_HOST_PATHS:
            self.ledger.watch_path(path)
        self.ledger.watch_cgroup("kubepods")
        # Undo runs newest first, so these come last; stop() has stopped its own processes by then, and
        # they catch whatever a killed supervisor left running or mounted.
        self.ledger.watch_processes([str(self.workdir), str(NODE_ROOT)])
        self.ledger.watch_mounts([self.workdir, NODE_ROOT])
        NODE_ROOT.mkdir(parents=True, exist_ok=True)  # watched with the fixed host paths above
        self.ledger.watch_iptables_chains()
        deadline = time.monotonic() + timeout
        self._guard_network()
        self._start_containerd(deadline)
        self._import_pause()
        self._write_cni_config()
        self._start_kubelet()
        self._wait_node_ready(deadline)
        self._advertise_gpu()
        self._start_apiserver_relay()
        self._start_kube_proxy()
        self._start_node_registry(deadline)

    def stop(self) -> list[str]:
        """Stops every component and undoes every host change; returns what could not be undone."""
        if self._lock is None:
            # Never started (the lock was another node's): the ledger at LEDGER_FILE is not ours.
            return []
        for name in ("node-registry", "kube-proxy", "apiserver-relay", "kubelet"):
            comp = self.components.pop(name, None)
            if comp is not None:
                comp.stop()
        self._kill_pods()
        comp = self.components.pop("containerd", None)
        if comp is not None:
            comp.stop()
        self._delete_node()
        errors = self.ledger.undo()
        shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            LOCK_FILE.unlink()
        self._lock.close()
        self._lock = None
        return errors

    def _take_lock(self) -> None:
        self._lock = LOCK_FILE.open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise RealNodeUnavailable(
                "another real node runs on this machine (make cluster-down, or wait for the test run)"
            ) from None

    # ------------------------------------------------------------------ network safety
    def _guard_network(self) -> None:
        led = self.ledger
        led.add_route("blackhole", POD_SUPERNET)
        led.add_route("blackhole", self.cluster.service_cidr, "metric", "4000")
        led.add_link(SERVICE_SINK)
        run("ip", "link", "set", SERVICE_SINK, "up")
        led.add_route(self.cluster.service_cidr, "dev", SERVICE_SINK)
        led.add_iptables("mangle", "FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP")
        led.add_iptables("mangle", "FORWARD", "!", "-i", BRIDGE, "-o", BRIDGE, "-j", "DROP")
        led.add_link(BRIDGE)
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")

    def _write_cni_config(self) -> None:
        conf_dir = self.workdir / "cni" / "net.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conf = {
            "cniVersion": "1.0.0",
            "name": "kaito-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": NODE_POD_CIDR, "gateway": GATEWAY}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.workdir / "cni" / "ipam"),
                    },
                }
            ],
        }
        (conf_dir / "10-kaito.conflist").write_text(json.dumps(conf, indent=1))

    # ------------------------------------------------------------------ containerd
    def _containerd_config(self) -> str:
        base = self.workdir / "containerd"
        certs = base / "certs.d"
        registry = self.registry
        # Every other name is served by the loopback registry (a mirror for all: nothing is pulled from
        # off the machine); the node registry by itself, over plain HTTP on the bridge.
        for host, server in ((registry, registry), ("_default", registry), (NODE_REGISTRY, NODE_REGISTRY)):
            (certs / host).mkdir(parents=True, exist_ok=True)
            (certs / host / "hosts.toml").write_text(
                f'server = "http://{server}"\n\n[host."http://{server}"]\n'
                '  capabilities = ["pull", "resolve"]\n'
            )
        disabled = [
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ]
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = "{NODE_ROOT / "containerd"}"
state = "{NODE_ROOT / "containerd-state"}"
disabled_plugins = {json.dumps(disabled)}

[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{self.containerd_socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_DIR}"
  conf_dir = "{self.workdir / "cni" / "net.d"}"
[{cri}.registry]
  config_path = "{certs}"
"""

    def _start_containerd(self, deadline: float) -> None:
        config = self.workdir / "containerd" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(self._containerd_config())
        self._launch("containerd", ["containerd", "--config", str(config), "--log-level", "warn"])
        self._wait(
            lambda: self.containerd_socket.exists() and self._ctr("version").returncode == 0,
            "containerd",
            deadline,
        )

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run("ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args, check=False)

    def _import_pause(self) -> None:
        proc = self._ctr("images", "import", str(pause_image_tar()))
        if proc.returncode != 0:
            raise RuntimeError(f"importing the pause image failed: {proc.stderr.strip()}")

    # ------------------------------------------------------------------ kubelet
    def _kubeconfig(self, name: str, cert: Path, key: Path, server: str) -> Path:
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "local",
                            "cluster": {
                                "server": server,
                                "certificate-authority": str(self.cluster.pki.ca_cert),
                            },
                        }
                    ],
                    "users": [
                        {"name": name, "user": {"client-certificate": str(cert), "client-key": str(key)}}
                    ],
                    "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
                    "current-context": "local",
                }
            )
        )
        path.chmod(0o600)
        return path

    def _start_kubelet(self) -> None:
        d = self.workdir / "kubelet"
        d.mkdir(parents=True, exist_ok=True)
        (NODE_ROOT / "kubelet").mkdir(parents=True, exist_ok=True)
        cert, key = d / "client.crt", d / "client.key"
        issue_client_cert(self.cluster.pki, f"system:node:{NODE_NAME}", "system:nodes", cert, key)
        kubeconfig = self._kubeconfig("kubelet", cert, key, self.cluster.server)
        resolv = d / "resolv.conf"
        # No cluster DNS, and nothing may ask a resolver off this machine.
        resolv.write_text("nameserver 127.0.0.1\noptions ndots:1\n")
        endpoint = f"unix://{self.containerd_socket}"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # The apiserver reaches the kubelet at the node's InternalIP (the bridge gateway), with its
            # kubelet client certificate; anonymous requests are refused, so a pod gets nothing from it.
            "address": GATEWAY,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": _free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.cluster.pki.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": endpoint,
            "imageServiceEndpoint": endpoint,
            "podLogsDir": str(d / "pod-logs"),
            "resolvConf": str(resolv),
            "clusterDomain": "cluster.local",
            "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
            "evictionHard": {
                "memory.available": "200Mi",
                "nodefs.available": "2%",
                "nodefs.inodesFree": "2%",
                "imagefs.available": "2%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "maxPods": 40,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": False,
            "staticPodPath": "",
            "shutdownGracePeriod": "0s",
        }
        config_path = d / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        labels = ",".join(f"{k}={v}" for k, v in NODE_LABELS.items())
        self._launch(
            "kubelet",
            [
                str(self.cluster.bin_dir / "kubelet"),
                f"--config={config_path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={NODE_ROOT / 'kubelet'}",
                f"--cert-dir={d / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={GATEWAY}",
                f"--node-labels={labels}",
                "--v=1",
            ],
        )

    def _node(self) -> Mapping[str, Any] | None:
        got = self.cluster._get_json(f"/api/v1/nodes/{NODE_NAME}")
        return dict(got) if got else None

    def _wait_node_ready(self, deadline: float) -> None:
        def ready() -> bool:
            node = self._node() or {}
            return any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )

        self._wait(ready, f"node {NODE_NAME} Ready", deadline)

    def _advertise_gpu(self) -> None:
        """``nvidia.com/gpu`` as an extended resource in the node's status, as the Kubernetes docs show."""
        patch = json.dumps([{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": GPU_CAPACITY}])
        self.cluster.kubectl("patch", "node", NODE_NAME, "--subresource=status", "--type=json", "-p", patch)
        self.cluster.wait_for(
            lambda: ((self._node() or {}).get("status") or {}).get("allocatable", {}).get("nvidia.com/gpu"),
            f"{NODE_NAME} allocatable nvidia.com/gpu",
            timeout=30,
        )

    # ------------------------------------------------------------------ in-cluster apiserver, kube-proxy
    def _start_apiserver_relay(self) -> None:
        """The plane binds the apiserver to loopback; pods reach it as ``kubernetes.default`` through a relay
        on the bridge gateway, which the ``kubernetes`` Service's EndpointSlice names."""
        self._launch(
            "apiserver-relay",
            [
                "socat",
                f"TCP-LISTEN:{APISERVER_RELAY_PORT},bind={GATEWAY},reuseaddr,fork",
                f"TCP:127.0.0.1:{self.cluster.apiserver_port}",
            ],
        )
        slice_ = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {
                    "kubernetes.io/service-name": "kubernetes",
                    "endpointslice.kubernetes.io/managed-by": "kaito-realnode",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": APISERVER_RELAY_PORT, "protocol": "TCP"}],
        }
        self.cluster.apply(slice_)

    def _start_node_registry(self, deadline: float) -> None:
        import secrets
        import urllib.error
        import urllib.request
        import warnings

        with warnings.catch_warnings():
            # Deprecated (gone in 3.13), but the standard library's one bcrypt, which docker-registry wants.
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        d = self.workdir / "node-registry"
        d.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(18)
        (d / "password").write_text(password + "\n")
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        (d / "htpasswd").write_text(f"{NODE_REGISTRY_USER}:{hashed}\n")
        (d / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {d / 'data'}\n"
            f"http:\n  addr: {NODE_REGISTRY}\n"
            f"auth:\n  htpasswd:\n    realm: kaito-node-registry\n    path: {d / 'htpasswd'}\n"
        )
        self._launch("node-registry", ["docker-registry", "serve", str(d / "config.yml")])

        def answers() -> bool:
            # Not e2e.images.registry.answers: that one speaks https to any registry off loopback, and
            # this one is plain HTTP on the bridge (as containerd's hosts.toml for it says).
            try:
                urllib.request.urlopen(f"http://{NODE_REGISTRY}/v2/", timeout=1)
            except urllib.error.HTTPError as exc:
                return exc.code == 401
            except OSError:
                return False
            return False

        self._wait(answers, f"the node registry on {NODE_REGISTRY}", deadline)

    def _start_kube_proxy(self) -> None:
        d = self.workdir / "kube-proxy"
        d.mkdir(parents=True, exist_ok=True)
        cert, key = d / "client.crt", d / "client.key"
        issue_client_cert(self.cluster.pki, "system:kube-proxy", None, cert, key)
        kubeconfig = self._kubeconfig("kube-proxy", cert, key, self.cluster.server)
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": POD_SUPERNET,
            "hostnameOverride": NODE_NAME,
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{_free_port()}",
            "metricsBindAddress": f"127.0.0.1:{_free_port()}",
            "nodePortAddresses": [f"{GATEWAY}/32"],
            "iptables": {"localhostNodePorts": False},
            # 0 leaves the host's conntrack settings alone.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        config_path = d / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        binary = str(self.cluster.bin_dir / "kube-proxy")
        self.ledger.command([binary, "--cleanup"])
        self._launch("kube-proxy", [binary, f"--config={config_path}", "--v=1"])

    # ------------------------------------------------------------------ teardown helpers
    def _kill_pods(self) -> None:
        """Every container of ours dies before containerd stops (one SIGKILL per process in the kubepods
        cgroups); their shims, which would outlive containerd, go with the ledger's process entry."""
        for top in cgroup_dirs("kubepods"):
            pids: set[int] = set()
            for procs in top.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(x) for x in procs.read_text().split())
            kill_and_wait(pids)

    def _delete_node(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.kubectl(
                "delete", "node", NODE_NAME, "--ignore-not-found", "--wait=false", check=False
            )
            self.cluster.kubectl(
                "delete", "endpointslice", "kubernetes", "-n", "default", "--ignore-not-found", check=False
            )

    # ------------------------------------------------------------------ processes
    def _launch(self, name: str, args: list[str]) -> None:
        from e2e.cluster.localcluster import Component

        comp = Component(name=name, args=args, log_path=self.logs / f"{name}.log")
        comp.start(dict(os.environ, HOME=str(self.workdir)))
        self.components[name] = comp

    def _wait(self, probe: Any, what: str, deadline: float) -> None:
        from e2e.cluster.localcluster import wait_for_components

        wait_for_components(self.components, probe, what, deadline, tail=15)
