"""Scale benchmark: N inference workspaces to Ready, against the control plane's own floor.

Not a test: it prints figures, one line a run, in a shape that compares across commits::

    workspaces N=200 ready_s=… floor_s=… ratio=… delete_s=… rest_writes=… reconcile_errors=… rss_mib=…
      webhook=on   (one line)

The controller runs as the shipped manifests run it: the admission webhook on (every Workspace create goes
through it), release namespace kaito-system. Being a local process, its webhook is reached by URL
(``WEBHOOK_URL``) rather than through the Service; and leader election is off (see ``start_controllers``).

Environment: ``BENCH_N`` (default 200), ``BENCH_REST_S`` (idle window, default 120),
``BENCH_PROVISION=1`` (no pre-made nodes: the gpu-provisioner's local provider makes them),
``KUBECONFIG`` (else the ``make cluster-up`` cluster, started if it is not up), ``BENCH_ROUNDS``
(default 3: rounds of floor and controller run, reported as medians; the idle window is in the last),
``BENCH_CONTROLLER_ARGS`` (extra flags for the controller), ``BENCH_MEMPROFILE=1`` (run the controller
under tracemalloc and write where its memory lives to ``.cluster/bench-logs/memprofile.txt``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from kaito.catalog import load_catalog  # noqa: E402
from kaito.runtime.client import ApiError, Client, Kind, kinds  # noqa: E402
from kaito.runtime.objects import created_at  # noqa: E402
from kaito.webhook.configuration import CONFIGURATION_NAME, WEBHOOK_PATH  # noqa: E402
from kaito.workspace.catalog_source import CatalogPresets  # noqa: E402
from kaito.workspace.config import DEFAULT_REGISTRY  # noqa: E402
from kaito.workspace.inference import InferenceInputs, service_manifest, workload_manifest  # noqa: E402
from kaito.workspace.kinds import MACHINE, WORKSPACE  # noqa: E402

N = int(os.environ.get("BENCH_N", "200"))
REST_S = float(os.environ.get("BENCH_REST_S", "120"))
PROVISION = os.environ.get("BENCH_PROVISION", "") == "1"
MEMPROFILE = os.environ.get("BENCH_MEMPROFILE", "") == "1"
PRESET = os.environ.get("BENCH_PRESET", "phi-3-mini-4k-instruct")
INSTANCE_TYPE = os.environ.get("BENCH_INSTANCE_TYPE", "Standard_NC6s_v3")
# A fresh namespace each run: the previous run's may still be terminating.
NAMESPACE = os.environ.get("BENCH_NAMESPACE", f"bench-{int(time.time())}")
# Rounds of floor + controller run: this machine's speed drifts by a fifth from one minute to the next, so
# one floor and one run can put the ratio anywhere from 1.1 to 1.7; the line reports the medians.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = 32
# Where the manifests run the controller (its Lease, webhook certificate Secret, tuning templates).
SYSTEM_NAMESPACE = "kaito-system"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ENDPOINT_SLICE = Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", builtin=True)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_cluster() -> Path:
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"])
    subprocess.run(
        [sys.executable, "-m", "e2e.cluster", "up"], cwd=REPO, check=True, stdout=subprocess.DEVNULL
    )
    return REPO / ".cluster" / "kubeconfig"


def kubectl(kubeconfig: Path, *args: str) -> None:
    kubectl_bin = REPO / ".cluster" / "bin" / "kubectl"
    exe = str(kubectl_bin) if kubectl_bin.exists() else "kubectl"
    subprocess.run([exe, f"--kubeconfig={kubeconfig}", *args], check=True, stdout=subprocess.DEVNULL)


def install_manifests(kubeconfig: Path) -> None:
    """The CRDs and what else ``manifests/local`` holds, as ``make demo`` installs them."""
    kubectl(
        kubeconfig, "apply", "--server-side", "--force-conflicts", "-k", str(REPO / "manifests" / "local")
    )


async def bounded(tasks: list[Callable[[], Awaitable[Any]]]) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(fn: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            await fn()

    await asyncio.gather(*(one(t) for t in tasks))


def workspace(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": f"ws-{i}", "namespace": NAMESPACE},
        "resource": {"instanceType": INSTANCE_TYPE, "labelSelector": {"matchLabels": {"apps": f"bench-{i}"}}},
        "inference": {"preset": {"name": PRESET}},
    }


def node_name(i: int) -> str:
    # New names each run: a node recreated under an old name meets its predecessor's stale Lease, is
    # marked NotReady for a moment, and its pods stay unready (kwok does not re-ready them).
    return f"{NAMESPACE}-gpu-{i}"


def node(i: int) -> dict[str, Any]:
    name = node_name(i)
    capacity = {"cpu": "6", "memory": "112Gi", "pods": "110", "nvidia.com/gpu": "1"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "apps": f"bench-{i}",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "type": "kwok",
                "accelerator": "nvidia",
                "kaito.sh/bench": "true",
            },
        },
        "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def floor_objects(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the controller would create for workspace i, built by the controller's own builders."""
    ws = workspace(i)
    ws["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    preset = CatalogPresets(load_catalog()).preset(PRESET)
    inputs = InferenceInputs(
        preset=preset,
        registry=DEFAULT_REGISTRY,
        worker_nodes=[node_name(i)],
        extra_tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    )
    dep = workload_manifest(ws, inputs)
    svc = service_manifest(ws)
    for obj in (dep, svc):
        obj["metadata"].pop("ownerReferences", None)  # no owner exists in the floor run
    return dep, svc


class Bench:
    def __init__(self, client: Client, kubeconfig: Path) -> None:
        self.client = client
        self.kubeconfig = kubeconfig
        self.progress: dict[str, bool] = {}

    async def items(
        self, kind: Kind, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return list((await self.client.list(kind, namespace, label_selector=label_selector))["items"])

    async def delete_collection(
        self, kind: Kind, namespace: str | None, label_selector: str | None = None
    ) -> None:
        """One DELETE of the whole collection, as ``kubectl delete --all`` sends: deleting N objects one by
        one would add N requests to what ``delete_s`` measures."""
        query = {"labelSelector": label_selector}
        await self.client.transport.request("DELETE", kind.path(namespace), query=query)

    async def any_left(self, kind: Kind) -> bool:
        """Whether the namespace holds any ``kind``: one page of one item (``Client.list`` would follow the
        continue token through all of them)."""
        page = await self.client.transport.request("GET", kind.path(NAMESPACE), query={"limit": 1})
        return bool(page["items"])

    @contextlib.asynccontextmanager
    async def timeline(self, what: str) -> AsyncIterator[None]:
        """Logs, each second, how many objects are done and how busy the machine's cores were: a phase
        whose cores idle while objects wait is latency-bound, one whose cores are full is work-bound."""

        def busy_total() -> tuple[float, float]:
            fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle = fields[3] + fields[4]
            return sum(fields) - idle, sum(fields)

        async def sample() -> None:
            start = time.monotonic()
            busy, total = busy_total()
            while True:
                await asyncio.sleep(1)
                b, t = busy_total()
                cores = (os.cpu_count() or 1) * (b - busy) / max(t - total, 1)
                busy, total = b, t
                done = sum(self.progress.values())
                elapsed = time.monotonic() - start
                log(f"{what} t={elapsed:.0f}s done={done} of {len(self.progress)} cores={cores:.2f}")

        self.progress = {}
        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def quiesce(self, limit_s: float = 300) -> None:
        """Waits until no earlier run's namespace or nodes are still being deleted: that clean-up loads the
        same apiserver and would be measured as part of this run's floor."""

        async def quiet() -> bool:
            names = [ns["metadata"]["name"] for ns in await self.items(kinds.NAMESPACE)]
            leftovers = [name for name in names if name.startswith("bench-") and name != NAMESPACE]
            nodes = await self.items(kinds.NODE, label_selector="kaito.sh/bench=true")
            return not leftovers and not nodes

        if not await quiet():
            log("waiting for an earlier run's namespace and nodes to go")
            await self.until(quiet, "earlier bench runs cleaned up", limit_s)

    async def cleanup(self, limit_s: float = 180) -> None:
        """Deletes the namespace and waits for it to go, while the controller still runs to finalize any
        Workspace a failed run left behind; then the pre-made nodes."""
        with contextlib.suppress(ApiError):
            await self.client.delete(kinds.NAMESPACE, None, NAMESPACE)

        async def gone() -> bool:
            return await self.client.get_or_none(kinds.NAMESPACE, None, NAMESPACE) is None

        with contextlib.suppress(TimeoutError):
            await self.until(gone, "namespace deleted", limit_s)
        if not PROVISION:
            with contextlib.suppress(ApiError):
                await self.delete_collection(kinds.NODE, None, label_selector="kaito.sh/bench=true")
        # It points at the stopped controller's port and fails closed: it would refuse every later Workspace.
        with contextlib.suppress(ApiError):
            await self.client.delete(kinds.VALIDATING_WEBHOOK_CONFIGURATION, None, CONFIGURATION_NAME)

    async def setup(self) -> None:
        await self.quiesce()
        install_manifests(self.kubeconfig)
        with contextlib.suppress(ApiError):
            await self.client.create(kinds.NAMESPACE, {"metadata": {"name": NAMESPACE}})
        if not PROVISION:
            existing = {n["metadata"]["name"] for n in await self.items(kinds.NODE)}

            async def mk(i: int) -> None:
                if node_name(i) not in existing:
                    await self.client.create(kinds.NODE, node(i))

            await bounded([lambda i=i: mk(i) for i in range(N)])  # type: ignore[misc]
            await self.until(self.nodes_ready, "nodes Ready", 300)
        await self.crds_discovered()

    async def crds_discovered(self, settle_s: float = 35.0) -> None:
        """Waits until the CRDs are older than the garbage collector's 30 s discovery period. Until then it
        fails (and backs off) on every object owned by a kind it has not discovered, which on a fresh
        cluster loads the first round with work no installed cluster does."""
        newest = 0.0
        for name in ("workspaces.kaito.sh", "machines.karpenter.sh"):
            created = created_at(await self.client.get(kinds.CUSTOM_RESOURCE_DEFINITION, None, name))
            newest = max(newest, created.timestamp() if created else 0.0)
        wait = newest + settle_s - time.time()
        if wait > 0:
            log(f"waiting {wait:.0f}s for the garbage collector to discover the new CRDs")
            await asyncio.sleep(wait)

    async def nodes_ready(self) -> bool:
        nodes = await self.items(kinds.NODE, label_selector="kaito.sh/bench=true")
        ready = sum(
            1
            for n in nodes
            if n["metadata"]["name"].startswith(f"{NAMESPACE}-gpu-")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            )
        )
        return ready >= N

    async def until(self, probe: Callable[[], Awaitable[bool]], what: str, limit_s: float) -> float:
        start = time.monotonic()
        try:
            async with asyncio.timeout(limit_s):
                # The observer polls on purpose: it must not share the controller's watch machinery.
                while not await probe():  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise TimeoutError(f"{what} not reached in {limit_s}s") from None
        return time.monotonic() - start

    async def until_count(
        self,
        kind: Kind,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        limit_s: float,
    ) -> None:
        """Returns once N objects of ``kind`` in the namespace satisfy ``done``, seen through a watch of the
        bench's own client (not the controller's machinery): a watch sees each change when it happens, where
        polling would lag by its interval and load the apiserver both runs share with every list."""
        state: dict[str, bool] = {}
        self.progress = state
        try:
            async with asyncio.timeout(limit_s):
                while True:
                    listed = await self.client.list(kind, NAMESPACE)
                    state.clear()
                    state.update({o["metadata"]["name"]: done(o) for o in listed["items"]})
                    if sum(state.values()) >= N:
                        return
                    events = self.client.watch(
                        kind,
                        NAMESPACE,
                        resource_version=listed["metadata"]["resourceVersion"],
                        timeout_seconds=120,
                    )
                    try:
                        async for event in events:
                            obj = event.object
                            if event.type == "DELETED":
                                state.pop(obj["metadata"]["name"], None)
                            elif event.type in ("ADDED", "MODIFIED"):
                                state[obj["metadata"]["name"]] = done(obj)
                            if sum(state.values()) >= N:
                                return
                    # An expired resourceVersion (410) or a stream silent past its read timeout: list again.
                    # The outer timeout cancels rather than raising TimeoutError here, so it is not caught.
                    except (ApiError, TimeoutError):
                        pass
                    finally:
                        await events.aclose()
        except TimeoutError:
            raise TimeoutError(f"{what} not reached in {limit_s}s ({sum(state.values())}/{N})") from None

    # ---------------------------------------------------------------- floor
    async def floor(self) -> float:
        objs = [floor_objects(i) for i in range(N)]
        async with self.timeline("floor"):
            return await self._floor(objs)

    async def _floor(self, objs: list[tuple[dict[str, Any], dict[str, Any]]]) -> float:
        start = time.monotonic()

        services_done: list[float] = []

        async def create_service(svc: dict[str, Any]) -> None:
            await self.client.create(kinds.SERVICE, svc, NAMESPACE)
            services_done.append(time.monotonic() - start)

        # Two independent streams: a Service's ClusterIP allocation is serialized in the apiserver, and
        # the Deployments (what availability waits for) must not queue behind it. The floor is done when
        # every Deployment is Available and every Service exists, as a Ready workspace needs both.
        await asyncio.gather(
            bounded([lambda d=d: self.client.create(kinds.DEPLOYMENT, d, NAMESPACE) for d, _ in objs]),  # type: ignore[misc]
            bounded([lambda s=s: create_service(s) for _, s in objs]),  # type: ignore[misc]
        )
        log(f"floor: all objects created after {max(services_done):.1f}s")
        await self.until_count(
            kinds.DEPLOYMENT,
            lambda d: int((d.get("status") or {}).get("availableReplicas") or 0) >= 1,
            "floor Deployments Available",
            600,
        )
        return time.monotonic() - start

    async def floor_cleanup(self) -> None:
        await self.delete_collection(kinds.DEPLOYMENT, NAMESPACE)
        for svc in await self.items(kinds.SERVICE, NAMESPACE):
            await self.client.delete(kinds.SERVICE, NAMESPACE, svc["metadata"]["name"])

        await self.quiet_namespace()

    async def quiet_namespace(self, limit_s: float = 300) -> None:
        """Waits until the namespace holds no workload, pod or Service, nor what the control plane made for
        them (ReplicaSets, Endpoints, EndpointSlices) or the garbage collector still has to delete
        (ControllerRevisions): the next phase must not pay for this one's clean-up."""
        remaining = (
            kinds.DEPLOYMENT,
            kinds.REPLICASET,
            kinds.POD,
            kinds.SERVICE,
            kinds.ENDPOINTS,
            ENDPOINT_SLICE,
            kinds.CONTROLLER_REVISION,
        )

        async def quiet() -> bool:
            for kind in remaining:
                if await self.any_left(kind):
                    return False
            return True

        await self.until(quiet, "namespace quiet", limit_s)

    # ---------------------------------------------------------------- controller run
    @staticmethod
    def ready(ws: dict[str, Any]) -> bool:
        return any(
            c.get("type") == "WorkspaceReady" and c.get("status") == "True"
            for c in (ws.get("status") or {}).get("conditions") or []
        )

    async def apply_workspaces(self) -> float:
        async with self.timeline("ready"):
            return await self._apply_workspaces()

    async def _apply_workspaces(self) -> float:
        start = time.monotonic()
        await bounded(
            [
                lambda i=i: self.client.create(WORKSPACE, workspace(i))  # type: ignore[misc]
                for i in range(N)
            ]
        )
        await self.until_count(WORKSPACE, self.ready, "all workspaces WorkspaceReady", 1200)
        return time.monotonic() - start

    async def delete_all(self) -> float:
        start = time.monotonic()
        await self.delete_collection(WORKSPACE, NAMESPACE)

        # Machines are cluster-scoped: the namespace is ignored for them.
        remaining = (WORKSPACE, kinds.DEPLOYMENT, kinds.SERVICE, *((MACHINE,) if PROVISION else ()))

        async def gone() -> bool:
            for kind in remaining:
                if await self.items(kind, NAMESPACE):
                    return False
            return True

        await self.until(gone, "workspaces and their objects gone", 600)
        return time.monotonic() - start


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def metric_sum(text: str, name: str, label_filter: Callable[[str], bool] = lambda _: True) -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m and label_filter(m.group(1) or ""):
            total += float(m.group(2))
    return total


def labelled(label: str) -> Callable[[str], bool]:
    """A ``metric_sum`` filter: series whose labels include ``label`` (``method="GET"``)."""
    return lambda labels: label in labels


def writes(text: str) -> float:
    return metric_sum(
        text,
        "rest_client_requests_total",
        lambda labels: any(f'method="{v}"' in labels for v in WRITE_METHODS),
    )


async def settle(port: int, quiet_s: float = 5.0, limit_s: float = 60.0) -> float:
    """Seconds until the controller's write counter has been still for ``quiet_s``: the idle window
    measures steady state, not the last status writes of the burst."""
    start = last_change = time.monotonic()
    last = writes(scrape(port))
    while time.monotonic() - last_change < quiet_s and time.monotonic() - start < limit_s:
        await asyncio.sleep(0.5)
        now = writes(scrape(port))
        if now != last:
            last, last_change = now, time.monotonic()
    return last_change - start


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The control plane's processes by the name the kernel gives them (truncated to 15 characters).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kwok")


def cpu_by_process(extra: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each control-plane process, by ``extra`` (name -> pid) and by this bench:
    where a phase's two cores went."""
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
            if comm in CONTROL_PLANE:
                used[comm] = used.get(comm, 0.0) + cpu_s(int(stat.parent.name))
    for name, pid in {**extra, "bench": os.getpid()}.items():
        with contextlib.suppress(OSError):
            used[name] = cpu_s(pid)
    return used


def cpu_report(before: dict[str, float], after: dict[str, float], wall_s: float) -> str:
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    parts = [f"{name}={spent[name]:.1f}" for name in sorted(spent, key=lambda k: -spent[k])]
    total = sum(spent.values())
    return f"cpu_s in {wall_s:.1f}s (2 cores: {2 * wall_s:.0f}): total={total:.1f} " + " ".join(parts)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_process(
    cmd: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    fh = log_path.open("wb")
    return subprocess.Popen(
        cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError("controller never became ready")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Round:
    ready_s: float
    floor_s: float
    delete_s: float
    reconcile_errors: int
    rss_mib: float
    rest_writes: int | None  # measured in the last round only


def controller_report(text: str) -> None:
    """Where the controller's time went, from its own metrics."""
    per_verb = {
        m: metric_sum(text, "rest_client_requests_total", labelled(f'method="{m}"'))
        for m in ("GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE")
    }
    log("controller requests by method: " + json.dumps(per_verb))
    admissions = metric_sum(text, "kaito_webhook_admission_requests_total")
    log(f"webhook admission reviews answered: {admissions:.0f}")
    throttled = metric_sum(text, "rest_client_rate_limiter_duration_seconds_sum")
    log(f"controller client-side rate limiter: {throttled:.1f}s waited in all")
    for verb in ("POST", "PATCH"):
        count = metric_sum(text, "rest_client_request_duration_seconds_count", labelled(f'verb="{verb}"'))
        total = metric_sum(text, "rest_client_request_duration_seconds_sum", labelled(f'verb="{verb}"'))
        log(f"controller {verb} latency as the controller saw it: {total / max(count, 1):.3f}s on average")
    reconciles = metric_sum(text, "controller_runtime_reconcile_time_seconds_count")
    busy = metric_sum(text, "controller_runtime_reconcile_time_seconds_sum")
    queued = metric_sum(text, "workqueue_queue_duration_seconds_sum")
    log(
        f"controller reconciles: {reconciles:.0f}, {busy / max(reconciles, 1):.2f}s each on average, "
        f"{queued / max(reconciles, 1):.2f}s queued on average"
    )


def start_controllers(kubeconfig: Path, logs: Path, number: int) -> tuple[list[subprocess.Popen[bytes]], int]:
    """The workspace controller (and in provision mode the gpu-provisioner), ready; returns the processes
    and the controller's metrics port."""
    bindir = Path(sys.executable).parent
    metrics_port, probe_port, webhook_port = free_port(), free_port(), free_port()
    os.environ.setdefault("BENCH_MEMPROFILE_OUT", str(logs / "memprofile.txt"))
    controller_cmd = (
        [sys.executable, str(REPO / "bench" / "memprofile.py")]
        if MEMPROFILE
        else [str(bindir / "kaito-workspace-controller")]
    )
    procs = [
        start_process(
            [
                *controller_cmd,
                f"--kubeconfig={kubeconfig}",
                # The one difference from the manifests: a leader renews its Lease (a PUT every 2 s) at
                # rest by design, which would hide the writes rest_writes is there to catch.
                "--leader-elect=false",
                f"--release-namespace={SYSTEM_NAMESPACE}",
                f"--metrics-bind-address=127.0.0.1:{metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{probe_port}",
                "--enable-webhook=true",
                f"--webhook-port={webhook_port}",
                "--extra-toleration=kwok.x-k8s.io/node:NoSchedule",
                "--log-format=json",
                *os.environ.get("BENCH_CONTROLLER_ARGS", "").split(),
            ],
            logs / f"workspace-controller-{number}.log",
            # The apiserver reaches a controller run as a local process by URL, not through the Service.
            env={"WEBHOOK_URL": f"https://127.0.0.1:{{port}}{WEBHOOK_PATH}"},
        )
    ]
    if PROVISION:
        pm, pp = free_port(), free_port()
        procs.append(
            start_process(
                [
                    str(bindir / "gpu-provisioner"),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--provider=local",
                    f"--metrics-bind-address=127.0.0.1:{pm}",
                    f"--health-probe-bind-address=127.0.0.1:{pp}",
                    "--log-format=json",
                ],
                logs / f"gpu-provisioner-{number}.log",
            )
        )
        wait_ready(pp, procs[1])
    wait_ready(probe_port, procs[0])
    return procs, metrics_port


async def run_round(bench: Bench, kubeconfig: Path, logs: Path, number: int, last: bool) -> Round:
    """One floor (with the controller stopped) and one controller run of the same N workspaces."""
    floor_s = 0.0
    if not PROVISION:
        log(f"round {number}: floor: the same Deployments and Services, applied directly")
        cpu_before = cpu_by_process({})
        floor_s = await bench.floor()
        log(f"floor_s={floor_s:.1f}")
        log("floor " + cpu_report(cpu_before, cpu_by_process({}), floor_s))
        await bench.floor_cleanup()
    procs, metrics_port = start_controllers(kubeconfig, logs, number)
    ctrl = procs[0]
    try:
        log(f"round {number}: applying workspaces")
        cpu_before = cpu_by_process({"controller": ctrl.pid})
        ready_s = await bench.apply_workspaces()
        log(f"ready_s={ready_s:.1f}")
        log("ready " + cpu_report(cpu_before, cpu_by_process({"controller": ctrl.pid}), ready_s))
        rest_writes: int | None = None
        if last:
            settle_s = await settle(metrics_port)
            log(f"settled {settle_s:.1f}s after Ready (trailing status writes and events)")
            before = writes(scrape(metrics_port))
            log(f"rest: {REST_S:.0f}s idle")
            await asyncio.sleep(REST_S)
            rest_writes = int(writes(scrape(metrics_port)) - before)
        text = scrape(metrics_port)
        errors = int(metric_sum(text, "controller_runtime_reconcile_errors_total"))
        rss = rss_mib(ctrl.pid)
        if MEMPROFILE and last:
            profile = os.environ["BENCH_MEMPROFILE_OUT"]
            ctrl.send_signal(signal.SIGUSR1)
            await asyncio.sleep(5)
            log(f"tracemalloc profile in {profile} (rss_mib includes tracemalloc's own overhead)")
        delete_s = await bench.delete_all()
        log(f"delete_s={delete_s:.1f}")
        await bench.quiet_namespace()
        controller_report(scrape(metrics_port))
    finally:
        for p in procs:
            stop_process(p)
    return Round(ready_s, floor_s, delete_s, errors, rss, rest_writes)


async def main() -> None:
    kubeconfig = ensure_cluster()
    # No client-side rate limit, and the connection's pool (100) holds both floor streams' 2 x CONCURRENCY
    # requests at once: the floor measures the control plane, not this client.
    client = await Client.from_kubeconfig(kubeconfig, qps=0, burst=0, field_manager="kaito-bench")
    bench = Bench(client, kubeconfig)
    logs = REPO / ".cluster" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        log(f"setup: N={N} mode={'provision' if PROVISION else 'byo-nodes'} rounds={ROUNDS}")
        await bench.setup()
        rounds = [
            await run_round(bench, kubeconfig, logs, number, number == ROUNDS)
            for number in range(1, ROUNDS + 1)
        ]
        for number, r in enumerate(rounds, 1):
            log(f"round {number}: ready_s={r.ready_s:.1f} floor_s={r.floor_s:.1f} delete_s={r.delete_s:.1f}")
        ready_s = statistics.median(r.ready_s for r in rounds)
        floor_s = statistics.median(r.floor_s for r in rounds)
        ratio = ready_s / floor_s if floor_s else float("nan")
        mode = " mode=provision" if PROVISION else ""
        print(
            f"workspaces N={N} ready_s={ready_s:.1f} floor_s={floor_s:.1f} ratio={ratio:.2f} "
            f"delete_s={statistics.median(r.delete_s for r in rounds):.1f} "
            f"rest_writes={rounds[-1].rest_writes} "
            f"reconcile_errors={sum(r.reconcile_errors for r in rounds)} "
            f"rss_mib={max(r.rss_mib for r in rounds):.0f} webhook=on{mode}",
            flush=True,
        )
    finally:
        await bench.cleanup()
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
