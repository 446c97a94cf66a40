"""The Workspace reconciler: level-based, reading only the cache, writing only what differs.

One pass: finalizer → spec revision → nodes (existing ones first, Machines for the shortfall) → the
inference objects or the tuning Job → status recomputed from what was observed. Nothing waits inside a
reconcile: progress comes from watch events on owned objects, Machines, Nodes and Pods, with a long
``requeue_after`` only as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from kaito.api.constants import (
    ANNOTATION_ENABLE_LB,
    ANNOTATION_FORCE_RELEASE,
    CONDITION_WORKSPACE_READY,
    WORKSPACE_FINALIZER,
)
from kaito.api.views import as_workspace
from kaito.runtime.cache import Cache
from kaito.runtime.client import (
    AlreadyExistsError,
    ApiError,
    Client,
    ConflictError,
    InvalidError,
    Kind,
    NotFoundError,
    PatchType,
)
from kaito.runtime.client.create_apply import create_or_apply
from kaito.runtime.client.errors import guarded_patch_conflict
from kaito.runtime.controller import Request, Result
from kaito.runtime.objects import (
    Obj,
    annotations_of,
    condition_is,
    conditions_of,
    get_path,
    is_controlled_by,
    is_deleting,
    meta,
    name_of,
    namespace_of,
    uid_of,
)
from kaito.webhook.tuning_config import check_training_config
from kaito.workspace import kinds
from kaito.workspace import names as n
from kaito.workspace.background import BackgroundApplies
from kaito.workspace.config import ControllerConfig
from kaito.workspace.events import EventSink, NullEvents
from kaito.workspace.expectations import MachineExpectations
from kaito.workspace.inference import (
    InferenceInputs,
    config_env,
    legacy_headless_name,
    service_manifest,
    wants_load_balancer,
    workload_manifest,
)
from kaito.workspace.machines import (
    free_machine_names,
    live_machines,
    machine_failure,
    machine_manifest,
    machine_node_name,
    release_problem,
)
from kaito.workspace.metrics import WorkspaceMetrics
from kaito.workspace.nodes import choose_nodes, needs_accelerator_label, node_qualifies
from kaito.workspace.objects import stable_hash, workspace_labels
from kaito.workspace.podspec import manifest_hash, stamp_hash
from kaito.workspace.podstatus import first_problem
from kaito.workspace.presets import PresetSource, PresetWorkload, RuntimeChoice, choose_runtime
from kaito.workspace.revision import plan_revisions, spec_hash
from kaito.workspace.status import (
    Observation,
    ResourceObservation,
    compute_status,
    deleting_status,
    job_state,
    transitions,
    workload_ready,
)
from kaito.workspace.tuning import (
    TuningInputs,
    config_copy_manifest,
    config_copy_name,
    default_config_template,
    job_manifest,
    output_dir,
    published_image,
)

_log = structlog.get_logger("kaito.workspace")

# How long our own status write may take to show up in the cache before we write it again.
STALE_CACHE_WINDOW_SECONDS = 10.0


class WorkspaceReconciler:
    def __init__(
        self,
        cache: Cache,
        client: Client,
        presets: PresetSource,
        config: ControllerConfig | None = None,
        events: EventSink | None = None,
        metrics: WorkspaceMetrics | None = None,
    ) -> None:
        self.cache = cache
        self.client = client
        self.presets = presets
        self.config = config or ControllerConfig()
        self.events: EventSink = events or NullEvents()
        self.metrics = metrics
        self.expectations = MachineExpectations()
        self.services = BackgroundApplies()
        # The status each workspace was last patched to, and when: the cache may not show our own write yet,
        # and writing (and announcing) the same transition twice is what this avoids.
        self._written: dict[str, tuple[float, Obj]] = {}
        # Workspaces (key -> uid) whose finalizer we removed: the apiserver has deleted them, and reconciles
        # that the cache's last view of them still triggers have nothing left to do (their patch would 404).
        self._released: dict[str, str] = {}
        # Per deleting workspace, the owned objects (kind/name/uid) whose delete we sent: a cache that has
        # not seen the deletion yet must not make us send it again on every pass.
        self._deleted: dict[str, set[str]] = {}

    # -- entry -----------------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        workspace = self.cache.get(kinds.WORKSPACE, request.namespace, request.name)
        if workspace is None:
            self.expectations.forget(str(request))
            self._written.pop(str(request), None)
            self._released.pop(str(request), None)
            self._deleted.pop(str(request), None)
            return None
        if self._released.get(str(request)) == uid_of(workspace):
            return None
        try:
            if is_deleting(workspace):
                return await self._finalize(workspace)
            return await self._sync(workspace)
        except ConflictError:
            # Someone wrote between our read and our write: the watch brings the new version; retry.
            _log.debug("write conflict, requeueing", workspace=str(request))
            return Result(requeue=True)
        except ApiError as exc:
            if exc.status == 403 and "being terminated" in str(exc):
                # The namespace is going away; the Workspace's own deletion brings us back to finalize.
                _log.debug("namespace terminating", workspace=str(request))
                return None
            raise

    # -- deletion --------------------------------------------------------------------------------------

    async def _finalize(self, workspace: Mapping[str, Any]) -> Result | None:
        if WORKSPACE_FINALIZER not in (meta(workspace).get("finalizers") or []):
            return None
        key = _key(workspace)
        machines = self._machines(workspace)
        # Machines first: they are GPU nodes someone pays for, and nothing (a status write the apiserver
        # refuses, say) may stand between a deleted workspace and their release.
        for machine in machines:
            if not is_deleting(machine):
                await self.client.delete(kinds.MACHINE, None, name_of(machine))
                self.events.event(
                    workspace, "Normal", "MachineDeleted", f"deleting machine {name_of(machine)}"
                )
        await self._delete_owned(workspace)
        blocked = [problem for problem in map(release_problem, machines) if problem is not None]
        if blocked:
            self.events.event(workspace, "Warning", n.REASON_MACHINE_RELEASE_FAILED, "; ".join(blocked))
        try:
            await self._write_status(workspace, deleting_status(workspace, len(machines), blocked=blocked))
        except ConflictError:
            raise
        except ApiError as exc:
            _log.warning("could not record WorkspaceDeleting; deletion goes on", error=str(exc))
        # Evaluated first: it also clears records of Machines already seen, which a later, emptier cache
        # could no longer confirm.
        settled = self.expectations.satisfied(key, self._machine_seen)
        forced = annotations_of(workspace).get(ANNOTATION_FORCE_RELEASE) == "true"
        if (machines or not settled) and forced:
            left = [name_of(m) for m in machines]
            _log.warning(
                "workspace force-released; machines left to the provisioner", workspace=key, machines=left
            )
            self.events.event(
                workspace,
                "Warning",
                n.REASON_FORCE_RELEASED,
                f"{ANNOTATION_FORCE_RELEASE}: released without waiting for machine(s) "
                f"{', '.join(left) or '(none seen yet)'}; the provisioner keeps terminating them",
            )
        elif machines or not settled:
            # The provisioner releases the cloud node first; its Machine's delete event brings us back.
            return Result(requeue_after=self.config.deleting_requeue_seconds)
        await self._remove_finalizer(workspace)
        self.expectations.forget(key)
        self._released[key] = uid_of(workspace)
        return None

    async def _delete_owned(self, workspace: Mapping[str, Any]) -> None:
        """Deletes the workload, Services and config copy we made for ``workspace``. The garbage collector
        would collect them by their owner reference, but only once it has discovered the Workspace kind:
        up to 30 s after the CRD is installed, plus its backoff on the items it failed meanwhile (a
        200-workspace delete took 22.7 s instead of 6). A failed delete is left to the collector."""
        ns = namespace_of(workspace)
        name = name_of(workspace)
        targets = (
            (kinds.DEPLOYMENT, name),
            (kinds.STATEFULSET, name),
            (kinds.JOB, name),
            (kinds.SERVICE, name),
            (kinds.SERVICE, legacy_headless_name(workspace)),
            (kinds.CONFIGMAP, config_copy_name(workspace)),
        )
        sent = self._deleted.setdefault(_key(workspace), set())
        deletes: list[tuple[Kind, str, Coroutine[Any, Any, bool]]] = []
        for kind, target in targets:
            owned = self.cache.get(kind, ns, target)
            if owned is None or not is_controlled_by(owned, workspace) or is_deleting(owned):
                continue
            identity = f"{kind.kind}/{target}/{uid_of(owned)}"
            if identity in sent:
                continue
            sent.add(identity)
            # The uid precondition: never a same-named object someone made after ours went.
            delete = self.client.delete(
                kind, ns, target, propagation_policy="Background", preconditions={"uid": uid_of(owned)}
            )
            deletes.append((kind, target, delete))
        outcomes = await asyncio.gather(*(d for _, _, d in deletes), return_exceptions=True)
        for (kind, target, _), outcome in zip(deletes, outcomes, strict=True):
            if isinstance(outcome, ApiError):
                _log.warning(
                    "could not delete; the garbage collector will",
                    kind=kind.kind,
                    name=target,
                    error=str(outcome),
                )
            elif isinstance(outcome, BaseException):
                raise outcome

    async def _remove_finalizer(self, workspace: Mapping[str, Any]) -> None:
        finalizers = list(meta(workspace).get("finalizers") or [])
        index = finalizers.index(WORKSPACE_FINALIZER)
        # test+remove on the exact slot: never rewrites (or resurrects) another controller's finalizer.
        patch = [
            {"op": "test", "path": f"/metadata/finalizers/{index}", "value": WORKSPACE_FINALIZER},
            {"op": "remove", "path": f"/metadata/finalizers/{index}"},
        ]
        try:
            await self.client.patch(
                kinds.WORKSPACE,
                name=name_of(workspace),
                patch=patch,
                namespace=namespace_of(workspace),
                patch_type=PatchType.JSON,
            )
        except NotFoundError:
            return
        except ApiError as exc:
            conflict = guarded_patch_conflict(exc)
            if conflict is None:
                raise
            raise conflict from exc

    # -- the main pass ---------------------------------------------------------------------------------

    async def _sync(self, workspace: Mapping[str, Any]) -> Result | None:
        is_tuning = as_workspace(workspace).get("tuning") is not None
        preset, preset_error = self._resolve_preset(workspace, is_tuning)
        # Services first, before any round trip: a ClusterIP is allocated one at a time, so in a burst of
        # new workspaces the Services are what everything ends up waiting for. They need neither the nodes
        # nor the finalizer (the owner reference collects them).
        pending_services: list[str] = []
        service_error: tuple[str, str] | None = None
        if not is_tuning and not preset_error:
            try:
                pending_services = self._sync_services(workspace)
            except InvalidError as exc:  # an earlier background apply was refused: say so in status
                service_error = (n.REASON_WORKLOAD_INVALID, str(exc)[:2000])
        digest = spec_hash(workspace)
        revision, writes = self._plan_revisions(workspace, digest)
        # The revision number comes from the cached history, so the history write and the annotation that
        # names it go out together: one round trip less before a new workspace's first workload write.
        history, patched = await asyncio.gather(
            writes, self._ensure_metadata(workspace, digest, revision), return_exceptions=True
        )
        for outcome in (patched, history):  # both finished: the reconcile leaves nothing running behind
            if isinstance(outcome, BaseException):
                raise outcome
        assert not isinstance(patched, BaseException)
        workspace = patched

        requeue: float | None = None
        if preset_error:
            resource = ResourceObservation(False, n.REASON_INVALID_PRESET, preset_error, failed=True)
        else:
            resource = await self._sync_nodes(workspace, preset, is_tuning)
            if not resource.ready:
                requeue = self.config.provisioning_requeue_seconds

        workload: Mapping[str, Any] | None = None
        job: Mapping[str, Any] | None = None
        workload_error: tuple[str, str] | None = None
        problem = None
        published: str | None = None
        runtime = self._runtime(workspace, preset) if not is_tuning and preset is not None else None
        if resource.ready and not preset_error:
            try:
                if is_tuning:
                    assert preset is not None
                    job, workload_error = await self._sync_tuning(
                        workspace, preset, resource, digest, revision
                    )
                    if not job_state(job).succeeded:
                        # Not started (pending, unschedulable), or failed: the pod says why.
                        problem = first_problem(self._pods(workspace))
                    else:
                        published = published_image(self._pods(workspace))
                else:
                    workload, workload_error = await self._sync_inference(
                        workspace, preset, resource, revision, runtime
                    )
                    if not workload_ready(workload)[0]:
                        problem = first_problem(self._pods(workspace))
            except InvalidError as exc:
                # Retrying the same manifest cannot help (e.g. a user template the apiserver rejects): say
                # so in status; a spec change brings a new attempt.
                workload_error = (n.REASON_WORKLOAD_INVALID, str(exc)[:2000])
        workload_error = workload_error or service_error

        if pending_services and resource.ready and workload_error is None and problem is None:
            # The nodes are there, the workload is applied and the Service's apply is under way: its watch
            # event (milliseconds away, seconds in a burst) brings the workspace back to write what it
            # shows then. In a burst the pods are often ready by that time, and the workspace goes to Ready
            # in one status write instead of two; a failure is never held back.
            return Result(requeue_after=requeue) if requeue else None
        status = compute_status(
            Observation(
                workspace=workspace,
                resource=resource,
                is_tuning=is_tuning,
                preset_error=preset_error,
                workload_error=workload_error,
                workload=workload,
                pending_services=tuple(pending_services),
                job=job,
                pod_problem=problem,
                published_image=published,
                runtime=runtime.describe() if runtime is not None else None,
            )
        )
        recheck = await self._write_status(workspace, status)
        pushed = status.get("outputImage")
        if pushed and pushed != get_path(workspace, "status", "outputImage"):
            self.events.event(
                workspace, "Normal", n.REASON_ADAPTER_PUBLISHED, f"pushed the tuned adapter as {pushed}"
            )
        if recheck is not None:
            requeue = min(requeue, recheck) if requeue else recheck
        return Result(requeue_after=requeue) if requeue else None

    def _resolve_preset(
        self, workspace: Mapping[str, Any], is_tuning: bool
    ) -> tuple[PresetWorkload | None, str | None]:
        ws = as_workspace(workspace)
        tuning, inference = ws.get("tuning", {}), ws.get("inference", {})
        name = (tuning if is_tuning else inference).get("preset", {}).get("name")
        if name:
            preset = self.presets.preset(name)
            if preset is None:
                return None, f"preset {name!r} is not in the catalog"
            if is_tuning and not preset.supports_tuning:
                return None, f"preset {name!r} does not support tuning"
            return preset, None
        template: dict[str, Any] | None = inference.get("template")
        if not is_tuning and template:
            return None, None
        return None, "the workspace names no preset" + ("" if is_tuning else " and no template")

    def _runtime(self, workspace: Mapping[str, Any], preset: PresetWorkload) -> RuntimeChoice:
        return choose_runtime(preset, self.presets.instance_type(_instance_type(workspace)))

    # -- metadata: finalizer and revision annotations, one patch ---------------------------------------

    async def _ensure_metadata(
        self, workspace: Mapping[str, Any], digest: str, revision: int
    ) -> Mapping[str, Any]:
        finalizers = list(meta(workspace).get("finalizers") or [])
        annotations = annotations_of(workspace)
        wanted = {n.ANNOTATION_SPEC_HASH: digest, n.ANNOTATION_REVISION: str(revision)}
        missing_finalizer = WORKSPACE_FINALIZER not in finalizers
        stale = {k: v for k, v in wanted.items() if annotations.get(k) != v}
        if not missing_finalizer and not stale:
            return workspace
        patch_meta: Obj = {"resourceVersion": meta(workspace).get("resourceVersion")}
        if missing_finalizer:
            patch_meta["finalizers"] = [*finalizers, WORKSPACE_FINALIZER]
        if stale:
            patch_meta["annotations"] = stale
        # resourceVersion in a merge patch makes it optimistic: a stale cache gets 409, never a lost write.
        return await self.client.patch(
            kinds.WORKSPACE,
            name=name_of(workspace),
            patch={"metadata": patch_meta},
            namespace=namespace_of(workspace),
            patch_type=PatchType.MERGE,
        )

    def _plan_revisions(
        self, workspace: Mapping[str, Any], digest: str
    ) -> tuple[int, Coroutine[Any, Any, None]]:
        """The current revision number, and the writes that bring the ControllerRevision history to it."""
        revisions = self.cache.list(
            kinds.CONTROLLER_REVISION,
            namespace_of(workspace),
            label_selector={n.LABEL_REVISION_WORKSPACE: name_of(workspace)},
        )
        to_create, number, prune = plan_revisions(workspace, revisions, digest)

        async def write() -> None:
            if to_create is not None:
                with contextlib.suppress(AlreadyExistsError):
                    await self.client.create(kinds.CONTROLLER_REVISION, to_create)
            for name in prune:
                await self.client.delete(kinds.CONTROLLER_REVISION, namespace_of(workspace), name)

        return number, write()

    # -- nodes -----------------------------------------------------------------------------------------

    def _machines(self, workspace: Mapping[str, Any]) -> list[Obj]:
        return self.cache.list(kinds.MACHINE, label_selector=workspace_labels(workspace))

    def _machine_seen(self, name: str) -> bool:
        return self.cache.get(kinds.MACHINE, None, name) is not None

    def _pods(self, workspace: Mapping[str, Any]) -> list[Obj]:
        return self.cache.list(kinds.POD, namespace_of(workspace), label_selector=workspace_labels(workspace))

    def _candidate_nodes(self, workspace: Mapping[str, Any]) -> list[Obj]:
        """The nodes carrying the workspace's matchLabels, read from the cache's label index; the whole
        selector is tested on them by :func:`choose_nodes`."""
        match: dict[str, str] | None = (
            as_workspace(workspace).get("resource", {}).get("labelSelector", {}).get("matchLabels")
        )
        return self.cache.list(kinds.NODE, label_selector=dict(match) if match else None)

    async def _sync_nodes(
        self, workspace: Mapping[str, Any], preset: PresetWorkload | None, is_tuning: bool
    ) -> ResourceObservation:
        key = _key(workspace)
        resource = as_workspace(workspace).get("resource", {})
        count = resource.get("count", 1)
        settled = self.expectations.satisfied(key, self._machine_seen)
        machines = live_machines(self._machines(workspace))
        nodes = self._candidate_nodes(workspace)
        choice = choose_nodes(workspace, nodes, [machine_node_name(m) for m in machines])
        for node in choice.selected:
            if needs_accelerator_label(node):
                await self.client.patch(
                    kinds.NODE,
                    namespace=None,
                    name=name_of(node),
                    patch={"metadata": {"labels": {"accelerator": n.ACCELERATOR_NVIDIA}}},
                    patch_type=PatchType.MERGE,
                )
        selected = [name_of(node) for node in choice.selected]
        if len(choice.usable) >= count:
            return ResourceObservation(
                True,
                n.REASON_NODES_READY,
                f"{count} GPU node(s) ready: {', '.join(choice.usable_names)}",
                worker_nodes=choice.usable_names,
            )
        qualified = {name_of(node) for node in nodes if node_qualifies(node, workspace)}
        in_flight = [m for m in machines if machine_node_name(m) not in qualified]
        shortfall = count - len(choice.selected) - len(in_flight)
        failure = next((f for f in map(machine_failure, in_flight) if f is not None), None)
        instance_type: str = resource.get("instanceType", "")
        # Machines on their way: those in the cache plus those created but not yet seen. One message for
        # all of them, so the condition does not change (and cost a status write) as the cache catches up.
        pending = {name_of(m) for m in in_flight} | self.expectations.pending_names(key)
        if shortfall > 0 and instance_type and failure is None and settled:
            created, error = await self._create_machines(workspace, preset, is_tuning, shortfall)
            if error:
                return ResourceObservation(
                    False, n.REASON_MACHINE_CREATE_FAILED, error, worker_nodes=selected, failed=True
                )
            pending |= set(created)
        if failure is not None:
            return ResourceObservation(
                False,
                failure.reason,
                f"machine {failure.machine}: {failure.message}",
                worker_nodes=selected,
                failed=True,
            )
        if pending:
            return ResourceObservation(
                False,
                n.REASON_MACHINE_PENDING,
                f"waiting for machine(s) {', '.join(sorted(pending))} to become ready nodes",
                worker_nodes=selected,
                provisioning=True,
            )
        waiting = [name_of(node) for node in choice.selected if node not in choice.usable]
        if waiting:
            message = f"waiting for {n.GPU_RESOURCE} capacity on node(s) {', '.join(waiting)}"
        else:
            message = (
                f"{len(choice.usable)}/{count} matching ready GPU node(s), and without "
                "resource.instanceType no machine can be provisioned"
            )
        return ResourceObservation(
            False, n.REASON_NODES_NOT_READY, message, worker_nodes=selected, provisioning=bool(waiting)
        )

    async def _create_machines(
        self, workspace: Mapping[str, Any], preset: PresetWorkload | None, is_tuning: bool, count: int
    ) -> tuple[list[str], str | None]:
        key = _key(workspace)
        storage = "0"
        if preset is not None:
            storage = preset.tuning_disk_storage if is_tuning else preset.disk_storage
        instance = self.presets.instance_type(_instance_type(workspace))
        arch = instance.arch if instance is not None else "amd64"
        created: list[str] = []
        taken = {name_of(m) for m in self._machines(workspace)} | self.expectations.pending_names(key)
        for name in free_machine_names(workspace, taken, count):
            self.expectations.expect(key, [name])
            try:
                await self.client.create(kinds.MACHINE, machine_manifest(workspace, name, storage, arch))
            except AlreadyExistsError:
                # Ours (the name derives from the workspace's uid), from a create whose answer was lost:
                # it fills this slot; the expectation stands until the cache shows it.
                continue
            except ApiError as exc:
                # Even if this create landed (a lost answer), the retry reuses the same name and meets
                # AlreadyExists, so the expectation can go: keeping it would stall the workspace until it
                # times out.
                self.expectations.observe(key, name)
                message = f"creating machine {name}: {exc}"
                self.events.event(workspace, "Warning", n.REASON_MACHINE_CREATE_FAILED, message)
                return created, message
            self.events.event(workspace, "Normal", "MachineCreated", f"created machine {name}")
            created.append(name)
        return created, None

    # -- inference -------------------------------------------------------------------------------------

    async def _sync_inference(
        self,
        workspace: Mapping[str, Any],
        preset: PresetWorkload | None,
        resource: ResourceObservation,
        revision: int,
        runtime: RuntimeChoice | None,
    ) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
        """Applies the workload; returns it and an error for status."""
        config_hash = ""
        settings: dict[str, str] = {}
        config_name = as_workspace(workspace).get("inference", {}).get("config")
        if config_name:
            config_map = self.cache.get(kinds.CONFIGMAP, namespace_of(workspace), config_name)
            if config_map is None:
                message = (
                    f"ConfigMap {config_name!r} (inference.config) not found in {namespace_of(workspace)}"
                )
                return None, (n.REASON_CONFIG_MISSING, message)
            config_hash = stable_hash(config_map.get("data") or {})
            settings = config_env(config_map)
        inputs = InferenceInputs(
            preset=preset,
            registry=self.config.preset_registry,
            worker_nodes=resource.worker_nodes,
            config_hash=config_hash,
            revision=str(revision),
            extra_tolerations=self.config.extra_tolerations,
            config_env=settings,
            runtime=runtime,
        )
        await self._delete_legacy_multi_node(workspace)
        desired = workload_manifest(workspace, inputs)
        observed = self.cache.get(kinds.DEPLOYMENT, namespace_of(workspace), name_of(workspace))
        # The cache keeps workloads without their pod template: the manifest hash says what they run.
        written = observed is None or manifest_hash(observed) != manifest_hash(desired)
        workload = await self._apply(workspace, kinds.DEPLOYMENT, desired)
        if runtime is not None and written:
            self.events.event(workspace, "Normal", n.REASON_RUNTIME_SELECTED, runtime.describe())
        return workload, None

    async def _delete_legacy_multi_node(self, workspace: Mapping[str, Any]) -> None:
        """Deletes the StatefulSet and headless Service an older version made for a multi-node preset: an
        upgraded controller serves the workspace with a Deployment alone."""
        ns = namespace_of(workspace)
        for kind, name in (
            (kinds.STATEFULSET, name_of(workspace)),
            (kinds.SERVICE, legacy_headless_name(workspace)),
        ):
            legacy = self.cache.get(kind, ns, name)
            if legacy is not None and is_controlled_by(legacy, workspace) and not is_deleting(legacy):
                await self.client.delete(kind, ns, name, preconditions={"uid": uid_of(legacy)})

    def _sync_services(self, workspace: Mapping[str, Any]) -> list[str]:
        """Hands the workspace's Service to the background; returns its name while the cache does not show
        it yet (the workspace is not Ready without it)."""
        allowed = self.config.allow_public_load_balancers
        service = service_manifest(workspace, allowed)
        if self._service_applied(workspace, service):
            return []
        if wants_load_balancer(workspace) and not allowed:
            # Said when the Service is written, not at every resync of the workspace.
            self.events.event(
                workspace,
                "Warning",
                "LoadBalancerNotAllowed",
                f"metadata.annotations[{ANNOTATION_ENABLE_LB}]: public load balancers are not allowed by the "
                "operator (--allow-public-load-balancers); the Service stays ClusterIP",
            )
        return [name_of(service)]

    def _service_applied(self, workspace: Mapping[str, Any], desired: Obj) -> bool:
        """Whether the cache shows ``desired``; if not, its apply is started in the background (see
        :mod:`kaito.workspace.background`), and an earlier failed apply of it is raised here."""
        observed = self.cache.get(kinds.SERVICE, namespace_of(desired), name_of(desired))
        digest = manifest_hash(desired)
        if (
            observed is not None
            and manifest_hash(observed) == digest
            and is_controlled_by(observed, workspace)
        ):
            return True
        key = f"{namespace_of(desired)}/{name_of(desired)}"
        failure = self.services.take_failure(key, digest)
        if failure is not None:
            raise failure
        self.services.submit(
            key,
            digest,
            Request(namespace_of(workspace), name_of(workspace)),
            lambda: self._apply(workspace, kinds.SERVICE, desired),
        )
        return False

    async def _apply(self, workspace: Mapping[str, Any], kind: Kind, desired: Obj) -> Mapping[str, Any]:
        """Writes ``desired`` only when the live object's manifest hash differs: a POST when the cache shows
        no object (half an apply's cost to the apiserver), else a server-side apply that owns what the POST
        created (:mod:`kaito.runtime.client.create_apply`)."""
        observed = self.cache.get(kind, namespace_of(desired), name_of(desired))
        if (
            observed is not None
            and manifest_hash(observed) == manifest_hash(desired)
            and is_controlled_by(observed, workspace)
        ):
            return observed
        result = await create_or_apply(
            self.client, kind, desired, exists=observed is not None, field_manager=n.FIELD_MANAGER
        )
        if observed is not None:
            # Creations show in the condition events; a change to a running object is worth its own.
            self.events.event(
                workspace, "Normal", f"{kind.kind}Updated", f"updated {kind.kind} {name_of(desired)}"
            )
        return result

    # -- tuning ----------------------------------------------------------------------------------------

    async def _sync_tuning(
        self,
        workspace: Mapping[str, Any],
        preset: PresetWorkload,
        resource: ResourceObservation,
        digest: str,
        revision: int,
    ) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
        ns = namespace_of(workspace)
        tuning = as_workspace(workspace).get("tuning", {})
        user_config = tuning.get("config", "")
        config_map: Mapping[str, Any] | None
        problem: tuple[str, str] | None
        if user_config:
            # Only from the Workspace's own namespace, checked again now (it may have changed or gone since
            # admission): the release namespace serves KAITO's default templates, never a user-named one.
            config_name = str(user_config)
            config_map = self.cache.get(kinds.CONFIGMAP, ns, config_name)
            if config_map is None:
                problem = (
                    n.REASON_CONFIG_MISSING,
                    f"tuning.config: ConfigMap {config_name!r} not found in namespace {ns}",
                )
            else:
                found = check_training_config(config_map.get("data") or {}, tuning.get("method", ""))
                problem = (n.REASON_CONFIG_INVALID, "; ".join(found)) if found else None
            if problem is not None:
                # The JobStarted condition carries it, and its transition is evented (naming the field).
                return None, problem
        else:
            source_name = default_config_template(tuning.get("method", ""))
            source = self.cache.get(kinds.CONFIGMAP, self.config.release_namespace, source_name)
            if source is None:
                where = self.config.release_namespace
                return None, (
                    n.REASON_CONFIG_MISSING,
                    f"tuning template {source_name!r} not found in {where}",
                )
            config_map = await self._apply(
                workspace, kinds.CONFIGMAP, stamp_hash(config_copy_manifest(workspace, source))
            )
            config_name = config_copy_name(workspace)
        instance = self.presets.instance_type(_instance_type(workspace))
        gpus = instance.gpu_count if instance is not None else preset.tuning_gpu_count
        inputs = TuningInputs(
            preset=preset,
            registry=self.config.preset_registry,
            config_map_name=config_name,
            results_dir=output_dir(config_map),
            worker_nodes=resource.worker_nodes,
            gpus=gpus,
            spec_hash=digest,
            revision=str(revision),
            extra_tolerations=self.config.extra_tolerations,
            datamovers_image=self.config.datamovers_image,
            egress_allow=self.config.egress_allow,
            insecure_registries=self.config.insecure_registries,
        )
        observed = self.cache.get(kinds.JOB, ns, name_of(workspace))
        if observed is not None and is_deleting(observed):
            return None, None
        if observed is not None and annotations_of(observed).get(n.ANNOTATION_SPEC_HASH) != digest:
            # A Job's pod template is immutable: a changed spec replaces the Job. Its delete event brings
            # us back to create the new one.
            await self.client.delete(kinds.JOB, ns, name_of(workspace), propagation_policy="Foreground")
            self.events.event(
                workspace, "Normal", "JobReplaced", f"the spec changed: replacing Job {name_of(workspace)}"
            )
            return None, None
        if observed is not None:
            return observed, None
        try:
            created = await self.client.create(kinds.JOB, job_manifest(workspace, inputs))
        except AlreadyExistsError:
            return None, None
        self.events.event(workspace, "Normal", "JobCreated", f"created tuning Job {name_of(workspace)}")
        return created, None

    # -- status ----------------------------------------------------------------------------------------

    async def _write_status(self, workspace: Mapping[str, Any], status: Obj) -> float | None:
        """Patches the status if it differs; returns a requeue delay when a write was skipped because the
        cache has not yet caught up with an identical write of ours."""
        old = dict(workspace.get("status") or {})
        key = _key(workspace)
        if old == status:
            self._written.pop(key, None)
            return None
        written = self._written.get(key)
        if written is not None and written[1] == status:
            age = time.monotonic() - written[0]
            if age < STALE_CACHE_WINDOW_SECONDS:
                return STALE_CACHE_WINDOW_SECONDS - age
        body: Obj = copy.deepcopy(status)
        for field in old:
            if field not in body:
                body[field] = None  # merge patch: an explicit null removes a key we no longer report
        try:
            await self.client.patch_status(
                kinds.WORKSPACE,
                namespace_of(workspace),
                name_of(workspace),
                {"status": body},
                patch_type=PatchType.MERGE,
            )
        except NotFoundError:
            return None
        self._written[key] = (time.monotonic(), status)
        for change in transitions(workspace, status):
            self.events.event(
                workspace,
                "Warning" if change.warning else "Normal",
                change.reason,
                f"{change.type}={change.status}: {change.message}",
            )
        was_ready = condition_is(conditions_of(workspace), CONDITION_WORKSPACE_READY, "True")
        now_ready = any(
            c["type"] == CONDITION_WORKSPACE_READY and c["status"] == "True"
            for c in status.get("conditions") or []
        )
        if now_ready and not was_ready and self.metrics is not None:
            self.metrics.observe_ready(workspace, datetime.now(UTC))
        return None


def _instance_type(workspace: Mapping[str, Any]) -> str:
    return as_workspace(workspace).get("resource", {}).get("instanceType", "")


def _key(workspace: Mapping[str, Any]) -> str:
    return f"{namespace_of(workspace)}/{name_of(workspace)}"
