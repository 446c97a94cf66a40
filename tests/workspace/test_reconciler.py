"""The reconciler against an in-memory cache and client: writes only what differs, never twice."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kaito.runtime.controller import Request
from kaito.workspace import kinds
from kaito.workspace.config import ControllerConfig
from kaito.workspace.reconciler import WorkspaceReconciler

from .fixtures import LLAMA, PRESETS, FakeCache, FakeClient, node, tuning_workspace, workspace


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        self.items.append((event_type, reason, message))


def make(sync: bool = True) -> tuple[FakeCache, FakeClient, WorkspaceReconciler, Events]:
    cache = FakeCache()
    client = FakeClient(cache, sync=sync)
    events = Events()
    rec = WorkspaceReconciler(cache, client, PRESETS, ControllerConfig(release_namespace="kaito"), events)  # type: ignore[arg-type]
    return cache, client, rec, events


def mark_deleting(cache: FakeCache) -> dict[str, Any]:
    """What `kubectl delete` leaves ws1 as while its finalizer holds it: a deletionTimestamp."""
    ws = copy.deepcopy(cache.get(kinds.WORKSPACE, "default", "ws1"))
    assert ws is not None
    ws["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cache.put(kinds.WORKSPACE, ws)
    return ws


def with_tuning_template(cache: FakeCache, data: str) -> None:
    """tune1, a node for it, and the release namespace's QLoRA template it copies."""
    cache.put(kinds.WORKSPACE, tuning_workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "tune1"}))
    cache.put(
        kinds.CONFIGMAP,
        {
            "metadata": {"name": "qlora-params-template", "namespace": "kaito"},
            "data": {"training_config.yaml": data},
        },
    )


def conds(cache: FakeCache, name: str = "ws1") -> dict[str, str]:
    ws = cache.get(kinds.WORKSPACE, "default", name)
    assert ws is not None
    return {c["type"]: c["status"] for c in ws["status"]["conditions"]}


async def test_byo_nodes_reach_ready_and_resync_writes_nothing() -> None:
    cache, client, rec, events = make()
    # The Service's ClusterIP allocation is slow on a busy apiserver: hold it until the test lets it go.
    allocated = asyncio.Event()
    create = client.create

    async def slow_service_create(kind: Any, obj: Any, **kwargs: Any) -> Any:
        if kind.kind == "Service":
            await allocated.wait()
        return await create(kind, obj, **kwargs)

    client.create = slow_service_create  # type: ignore[method-assign,assignment]
    cache.put(kinds.WORKSPACE, workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}))
    await rec.reconcile(Request("default", "ws1"))
    assert client.writes("create", "Machine") == []
    assert client.writes("create", "Deployment")  # new objects are POSTed: half an apply's cost
    # Nothing to report yet: the Service is on its way and its watch event brings the workspace back.
    assert client.writes("patch_status") == []
    make_ready(cache)
    # Pods ready, Service still on its way: no endpoint, so no Ready, and nothing written in between.
    await rec.reconcile(Request("default", "ws1"))
    assert client.writes("patch_status") == []
    allocated.set()
    await rec.services.wait_idle()
    assert client.writes("create", "Service") == [("create", "Service", "ws1")]
    await rec.reconcile(Request("default", "ws1"))
    assert conds(cache)["WorkspaceReady"] == "True"
    assert len(client.writes("patch_status")) == 1, "straight to Ready: one status write"
    ws = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert ws is not None and ws["status"]["state"] == "Ready" and ws["status"]["workerNodes"] == ["gpu-1"]
    before = len(client.calls)
    for _ in range(3):
        await rec.reconcile(Request("default", "ws1"))
    assert client.calls[before:] == []
    assert ("Normal", "WorkspaceReady") in {(t, r) for t, r, _ in events.items}


def make_ready(cache: FakeCache, name: str = "ws1") -> None:
    """What the deployment controller would report once the pods are up."""
    dep = copy.deepcopy(cache.get(kinds.DEPLOYMENT, "default", name))
    assert dep is not None
    dep["metadata"]["generation"] = 1
    dep["status"] = {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "replicas": 1}
    cache.put(kinds.DEPLOYMENT, dep)


def backend_env(cache: FakeCache) -> str:
    dep = cache.get(kinds.DEPLOYMENT, "default", "ws1")
    assert dep is not None
    env = {str(e["name"]): str(e["value"]) for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    return env["INFERENCE_BACKEND"]


async def serve_vllm_preset_on(instance_type: str) -> tuple[FakeCache, WorkspaceReconciler, Events, str]:
    """One pass over ws1 serving the vLLM preset on a node of ``instance_type``; returns the backend the
    Deployment got."""
    cache, _, rec, events = make()
    ws = workspace(inference={"preset": {"name": LLAMA.name}})
    ws["resource"]["instanceType"] = instance_type
    cache.put(kinds.WORKSPACE, ws)
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}, instance_type=instance_type))
    await rec.reconcile(Request("default", "ws1"))
    await rec.services.wait_idle()
    return cache, rec, events, backend_env(cache)


def runtime_messages(events: Events) -> list[str]:
    return [m for t, r, m in events.items if (t, r) == ("Normal", "RuntimeSelected")]


async def test_the_runtime_follows_the_gpu_generation_and_is_announced_once() -> None:
    cache, rec, events, backend = await serve_vllm_preset_on("Standard_NC24ads_A100_v4")
    assert backend == "vllm"
    expected = "serving with vllm: catalog runtime vllm, Standard_NC24ads_A100_v4 has compute capability 8.0"
    assert runtime_messages(events) == [expected]
    make_ready(cache)
    for _ in range(2):
        await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None
    ready = {c["type"]: c for c in stored["status"]["conditions"]}["InferenceReady"]
    assert ready["status"] == "True" and ready["message"].endswith("; " + expected)
    assert runtime_messages(events) == [expected]


async def test_vllm_falls_back_to_transformers_below_ampere() -> None:
    _, _, events, backend = await serve_vllm_preset_on("Standard_NC6s_v3")
    assert backend == "transformers"
    [message] = runtime_messages(events)
    assert message.startswith("serving with transformers: catalog runtime vllm, but Standard_NC6s_v3 has")


async def test_own_nodes_of_an_unknown_instance_type_keep_the_catalog_runtime() -> None:
    _, _, events, backend = await serve_vllm_preset_on("Custom_OnPrem_GPU")
    assert backend == "vllm"
    [message] = runtime_messages(events)
    assert "the nodes' instance type is not in the catalog" in message


async def test_an_older_versions_multi_node_objects_are_deleted() -> None:
    cache, client, rec, _ = make()
    ws = workspace()
    ws["resource"]["count"] = 2
    cache.put(kinds.WORKSPACE, ws)
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}))
    cache.put(kinds.NODE, node("gpu-2", {"apps": "ws1"}))
    owner = [
        {
            "apiVersion": "kaito.sh/v1alpha1",
            "kind": "Workspace",
            "name": "ws1",
            "uid": "uid-ws1",
            "controller": True,
        }
    ]
    cache.put(
        kinds.STATEFULSET,
        {"metadata": {"name": "ws1", "namespace": "default", "uid": "s1", "ownerReferences": owner}},
    )
    for name in ("ws1-headless", "other-headless"):
        cache.put(
            kinds.SERVICE,
            {"metadata": {"name": name, "namespace": "default", "uid": name, "ownerReferences": owner}},
        )
    await rec.reconcile(Request("default", "ws1"))
    await rec.services.wait_idle()
    assert client.writes("delete") == [
        ("delete", "StatefulSet", "ws1"),
        ("delete", "Service", "ws1-headless"),
    ]
    dep = cache.get(kinds.DEPLOYMENT, "default", "ws1")
    assert dep is not None and dep["spec"]["replicas"] == 2


async def test_stale_cache_never_creates_a_second_machine() -> None:
    cache, client, rec, _ = make(sync=False)
    cache.put(kinds.WORKSPACE, workspace())
    for _ in range(3):
        await rec.reconcile(Request("default", "ws1"))
    assert len(client.writes("create", "Machine")) == 1
    # The cache never showed our status write: it is not repeated while it may still be in flight.
    assert len(client.writes("patch_status")) == 1


async def test_a_transition_is_written_once_while_the_cache_lags_behind_it() -> None:
    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}))
    await rec.reconcile(Request("default", "ws1"))  # a status is there: the next write is a transition
    dep = copy.deepcopy(cache.get(kinds.DEPLOYMENT, "default", "ws1"))
    assert dep is not None
    dep["metadata"]["generation"] = 1
    dep["status"] = {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "replicas": 1}
    cache.put(kinds.DEPLOYMENT, dep)
    await rec.services.wait_idle()
    client.sync = False
    before = len(client.writes("patch_status", "Workspace"))
    for _ in range(3):
        await rec.reconcile(Request("default", "ws1"))
    assert len(client.writes("patch_status", "Workspace")) == before + 1


async def test_machine_failure_is_surfaced() -> None:
    cache, client, rec, events = make()
    ws = workspace()
    cache.put(kinds.WORKSPACE, ws)
    await rec.reconcile(Request("default", "ws1"))
    (machine,) = cache.list(kinds.MACHINE)
    machine = copy.deepcopy(machine)
    machine["status"] = {
        "conditions": [
            {
                "type": "MachineLaunched",
                "status": "False",
                "reason": "QuotaExceeded",
                "message": "exceeding approved Total Regional Cores quota",
            }
        ]
    }
    cache.put(kinds.MACHINE, machine)
    await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None
    resource = next(c for c in stored["status"]["conditions"] if c["type"] == "ResourceReady")
    assert resource["reason"] == "QuotaExceeded" and "quota" in resource["message"]
    assert stored["status"]["state"] == "Failed"
    assert ("Warning", "QuotaExceeded") in {(t, r) for t, r, _ in events.items}
    assert len(client.writes("create", "Machine")) == 1


async def test_machine_node_becomes_ready() -> None:
    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    (machine,) = cache.list(kinds.MACHINE)
    assert conds(cache)["ResourceReady"] == "False"
    # The Service does not wait for the node: its ClusterIP is ready (and its DNS name) when the pods are.
    await rec.services.wait_idle()
    assert client.writes("create", "Service") == [("create", "Service", "ws1")]
    assert client.writes("create", "Deployment") == []
    labels = dict(machine["metadata"]["labels"])
    gpu_node = node("aks-" + machine["metadata"]["name"], labels)
    del gpu_node["metadata"]["labels"]["accelerator"]
    cache.put(kinds.NODE, gpu_node)
    await rec.reconcile(Request("default", "ws1"))
    assert client.writes("patch", "Node") == [("patch", "Node", gpu_node["metadata"]["name"])]
    assert conds(cache)["ResourceReady"] == "True"
    assert len(client.writes("create", "Machine")) == 1


async def test_delete_waits_for_machines_then_drops_finalizer() -> None:
    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    ws = mark_deleting(cache)
    assert ws["metadata"]["finalizers"] == ["workspace.finalizer.kaito.sh"]
    client.sync = False
    result = await rec.reconcile(Request("default", "ws1"))
    assert result is not None and result.requeue_after > 0
    assert client.writes("delete", "Machine")
    assert conds(cache).get("WorkspaceDeleting") is None  # sync=False: the patch went to the server only
    for m in cache.list(kinds.MACHINE):
        cache.remove(kinds.MACHINE, None, m["metadata"]["name"])
    client.sync = True
    await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None and stored["metadata"]["finalizers"] == []


async def test_delete_removes_what_it_made_without_waiting_for_the_garbage_collector() -> None:
    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "ws1"}))
    await rec.reconcile(Request("default", "ws1"))
    await rec.services.wait_idle()
    # A ConfigMap of the workspace's copy name that someone else owns is not ours to delete.
    cache.put(kinds.CONFIGMAP, {"metadata": {"name": "ws1-tuning-config", "namespace": "default"}})
    mark_deleting(cache)
    await rec.reconcile(Request("default", "ws1"))
    assert sorted(client.writes("delete")) == [("delete", "Deployment", "ws1"), ("delete", "Service", "ws1")]
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None and stored["metadata"]["finalizers"] == []


async def test_a_released_workspace_is_not_patched_again_from_a_stale_cache() -> None:
    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    ws = mark_deleting(cache)
    ws["status"]["conditions"].append({"type": "WorkspaceDeleting", "status": "True", "reason": "x"})
    cache.put(kinds.WORKSPACE, ws)
    for m in cache.list(kinds.MACHINE):
        cache.remove(kinds.MACHINE, None, m["metadata"]["name"])
    client.sync = False  # the apiserver deletes the workspace; the cache has not heard yet
    await rec.reconcile(Request("default", "ws1"))
    assert len(client.writes("patch", "Workspace")) >= 1
    before = len(client.calls)
    await rec.reconcile(Request("default", "ws1"))
    assert client.calls[before:] == [], "the finalizer is gone already: a second removal would 404"
    # The same name created anew (another uid) is a new workspace.
    cache.remove(kinds.WORKSPACE, "default", "ws1")
    await rec.reconcile(Request("default", "ws1"))
    client.sync = True
    fresh = workspace()
    fresh["metadata"]["uid"] = "another-uid"
    cache.put(kinds.WORKSPACE, fresh)
    await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None and stored["metadata"].get("finalizers") == ["workspace.finalizer.kaito.sh"]


async def test_tuning_creates_config_copy_and_job_once() -> None:
    cache, client, rec, _ = make()
    with_tuning_template(cache, "training_config: {}\n")
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("create", "Job") == [("create", "Job", "tune1")]
    assert client.writes("create", "ConfigMap") == [("create", "ConfigMap", "tune1-tuning-config")]
    job = copy.deepcopy(cache.get(kinds.JOB, "default", "tune1"))
    assert job is not None
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    cache.put(kinds.JOB, job)
    await rec.reconcile(Request("default", "tune1"))
    assert conds(cache, "tune1")["WorkspaceReady"] == "True"
    assert len(client.writes("create", "Job")) == 1


async def test_missing_template_configmap_is_reported() -> None:
    cache, _, rec, _ = make()
    cache.put(kinds.WORKSPACE, tuning_workspace())
    cache.put(kinds.NODE, node("gpu-1", {"apps": "tune1"}))
    await rec.reconcile(Request("default", "tune1"))
    ws = cache.get(kinds.WORKSPACE, "default", "tune1")
    assert ws is not None and ws["status"]["state"] == "Failed"
    reasons = {c["type"]: c["reason"] for c in ws["status"]["conditions"]}
    assert reasons["JobStarted"] == "ConfigMapNotFound"


async def test_changed_tuning_spec_replaces_the_job() -> None:
    cache, client, rec, _ = make()
    with_tuning_template(cache, "x")
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("create", "Job") == [("create", "Job", "tune1")]
    ws = copy.deepcopy(cache.get(kinds.WORKSPACE, "default", "tune1"))
    assert ws is not None
    ws["tuning"]["input"] = {"urls": ["https://example.com/other.parquet"]}
    ws["metadata"]["generation"] = 2
    cache.put(kinds.WORKSPACE, ws)
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("delete", "Job") == [("delete", "Job", "tune1")]
    await rec.reconcile(Request("default", "tune1"))
    assert len(client.writes("create", "Job")) == 2
    job = cache.get(kinds.JOB, "default", "tune1")
    assert job is not None and "other.parquet" in str(job["spec"]["template"]["spec"]["initContainers"])
    revisions = cache.list(kinds.CONTROLLER_REVISION, "default")
    assert sorted(r["revision"] for r in revisions) == [1, 2]


async def test_a_create_with_a_lost_answer_never_becomes_a_second_machine() -> None:
    """The apiserver dies mid-create: the Machine may exist though the client saw a 503. The next passes
    wait for the cache, and a retry reuses the same name, so at most one Machine is ever created."""
    from kaito.runtime.client import ApiError

    cache, client, rec, events = make(sync=False)
    cache.put(kinds.WORKSPACE, workspace())
    client.fail_create["Machine"] = ApiError(503, "ServiceUnavailable", "apiserver restarting")
    await rec.reconcile(Request("default", "ws1"))
    assert ("Warning", "MachineCreationFailed") in {(t, r) for t, r, _ in events.items}
    del client.fail_create["Machine"]
    for _ in range(3):
        await rec.reconcile(Request("default", "ws1"))
    names = {name for verb, kind, name in client.calls if verb == "create" and kind == "Machine"}
    assert len(names) == 1, f"one slot, one name: {names}"


async def test_a_refused_status_write_never_blocks_releasing_the_machines() -> None:
    """A status the apiserver rejects (it once was an enum the CRD lacked) must not keep GPU nodes."""
    from kaito.runtime.client import InvalidError

    cache, client, rec, _ = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    assert client.writes("create", "Machine")
    ws = copy.deepcopy(cache.get(kinds.WORKSPACE, "default", "ws1"))
    assert ws is not None
    ws["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cache.put(kinds.WORKSPACE, ws)

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise InvalidError(422, "Invalid", "status.state: Unsupported value")

    client.patch_status = refuse  # type: ignore[method-assign]
    client.sync = False  # as on a real cluster, the deleted Machine stays visible until it is gone
    await rec.reconcile(Request("default", "ws1"))
    assert client.writes("delete", "Machine"), "the Machines go even though the status write failed"
    for m in cache.list(kinds.MACHINE):
        cache.remove(kinds.MACHINE, None, m["metadata"]["name"])
    client.sync = True
    await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None and stored["metadata"]["finalizers"] == []


async def test_a_user_named_configmap_comes_only_from_the_workspace_namespace() -> None:
    cache, client, rec, events = make()
    cache.put(kinds.WORKSPACE, tuning_workspace(config="team-config"))
    cache.put(kinds.NODE, node("gpu-1", {"apps": "tune1"}))
    # A ConfigMap of that name in the release namespace is KAITO's, not the user's: never served.
    qlora = "training_config:\n  QuantizationConfig: {load_in_4bit: true}\n"
    cache.put(
        kinds.CONFIGMAP,
        {"metadata": {"name": "team-config", "namespace": "kaito"}, "data": {"training_config.yaml": qlora}},
    )
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("create", "Job") == []
    ws = cache.get(kinds.WORKSPACE, "default", "tune1")
    assert ws is not None
    job_started = next(c for c in ws["status"]["conditions"] if c["type"] == "JobStarted")
    assert job_started["reason"] == "ConfigMapNotFound"
    assert "tuning.config: ConfigMap 'team-config' not found in namespace default" in job_started["message"]
    assert ("Warning", "ConfigMapNotFound") in {(t, r) for t, r, _ in events.items}

    # Re-checked at reconcile, not only at admission: a ConfigMap broken after the Workspace was admitted.
    lora = "training_config:\n  QuantizationConfig: {load_in_4bit: yes please}\n"
    cache.put(
        kinds.CONFIGMAP,
        {"metadata": {"name": "team-config", "namespace": "default"}, "data": {"training_config.yaml": lora}},
    )
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("create", "Job") == []
    invalid = [m for t, r, m in events.items if r == "ConfigMapInvalid"]
    assert invalid and "tuning.config (training_config.yaml): " in invalid[-1]

    cache.put(
        kinds.CONFIGMAP,
        {
            "metadata": {"name": "team-config", "namespace": "default"},
            "data": {"training_config.yaml": qlora},
        },
    )
    await rec.reconcile(Request("default", "tune1"))
    assert client.writes("create", "Job") == [("create", "Job", "tune1")]
    job = cache.get(kinds.JOB, "default", "tune1")
    assert job is not None and "team-config" in str(job["spec"]["template"]["spec"]["volumes"])


def _stuck(cache: FakeCache) -> str:
    """ws1's Machine, deleted, whose cloud capacity the provisioner cannot release."""
    (machine,) = cache.list(kinds.MACHINE)
    machine = copy.deepcopy(machine)
    machine["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    machine["status"] = {
        "conditions": [
            {
                "type": "MachineTerminated",
                "status": "False",
                "reason": "AuthorizationFailed",
                "message": "cloud delete failed: the client does not have authorization",
            }
        ]
    }
    cache.put(kinds.MACHINE, machine)
    return str(machine["metadata"]["name"])


async def test_deleting_says_which_machine_cannot_be_released_and_why() -> None:
    cache, _, rec, events = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    mark_deleting(cache)
    name = _stuck(cache)
    result = await rec.reconcile(Request("default", "ws1"))
    assert result is not None and result.requeue_after > 0
    ws = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert ws is not None and ws["metadata"]["finalizers"] == ["workspace.finalizer.kaito.sh"]
    deleting = next(c for c in ws["status"]["conditions"] if c["type"] == "WorkspaceDeleting")
    assert deleting["reason"] == "MachineReleaseFailed"
    assert (
        f"machine {name} cannot be released (AuthorizationFailed: cloud delete failed" in deleting["message"]
    )
    assert "kaito.sh/force-release" in deleting["message"]
    assert ("Warning", "MachineReleaseFailed") in {(t, r) for t, r, _ in events.items}


async def test_force_release_annotation_drops_the_finalizer_and_leaves_machines() -> None:
    cache, _, rec, events = make()
    cache.put(kinds.WORKSPACE, workspace())
    await rec.reconcile(Request("default", "ws1"))
    ws = mark_deleting(cache)
    name = _stuck(cache)
    ws["metadata"]["annotations"] = {"kaito.sh/force-release": "true"}
    cache.put(kinds.WORKSPACE, ws)
    await rec.reconcile(Request("default", "ws1"))
    stored = cache.get(kinds.WORKSPACE, "default", "ws1")
    assert stored is not None and stored["metadata"]["finalizers"] == []
    assert cache.get(kinds.MACHINE, None, name) is not None, "the provisioner still owns the Machine"
    forced = [m for t, r, m in events.items if r == "ForceReleased"]
    assert forced and name in forced[0]
