"""Wires the reconciler to the runtime: what the cache keeps, and which events reach which workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from kaito.api.constants import CONDITION_RESOURCE_READY, LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE
from kaito.api.views import WorkspaceView, as_workspace
from kaito.runtime.cache import ByKind, Cache
from kaito.runtime.client import Client, Kind
from kaito.runtime.controller import Builder, Controller, ControllerHost, Request
from kaito.runtime.controller.predicates import Predicate
from kaito.runtime.manager import Runnable
from kaito.runtime.objects import condition_is, conditions_of, labels_of, name_of, namespace_of
from kaito.workspace import kinds
from kaito.workspace import names as n
from kaito.workspace.config import ControllerConfig
from kaito.workspace.events import EventSink
from kaito.workspace.metrics import WorkspaceMetrics
from kaito.workspace.nodes import selector_matches
from kaito.workspace.podstatus import pod_problem
from kaito.workspace.presets import PresetSource
from kaito.workspace.reconciler import WorkspaceReconciler
from kaito.workspace.slim import slim_node, slim_pod, slim_revision, slim_workload

OWNED_KINDS: tuple[Kind, ...] = (
    kinds.DEPLOYMENT,
    kinds.STATEFULSET,
    kinds.SERVICE,
    kinds.JOB,
    kinds.CONFIGMAP,
    kinds.CONTROLLER_REVISION,
)


def cache_options() -> dict[Kind, ByKind]:
    """Per-kind cache restrictions: only our labelled workloads, Machines and pods, and slim Nodes and pods,
    so memory scales with the workspaces rather than with the cluster."""
    ours = ByKind(label_selector=LABEL_WORKSPACE)
    workloads = ByKind(label_selector=LABEL_WORKSPACE, transform=slim_workload)
    return {
        kinds.DEPLOYMENT: workloads,
        kinds.STATEFULSET: workloads,
        kinds.SERVICE: ours,
        kinds.JOB: workloads,
        kinds.MACHINE: ours,
        kinds.CONTROLLER_REVISION: ByKind(label_selector=n.LABEL_REVISION_WORKSPACE, transform=slim_revision),
        kinds.POD: ByKind(label_selector=LABEL_WORKSPACE, transform=slim_pod),
        kinds.NODE: ByKind(transform=slim_node),
    }


def _labelled_request(obj: Mapping[str, Any], default_namespace: str = "") -> list[Request]:
    labels = labels_of(obj)
    name = labels.get(LABEL_WORKSPACE)
    namespace = labels.get(LABEL_WORKSPACE_NAMESPACE) or default_namespace
    return [Request(namespace, name)] if name and namespace else []


def machine_mapper(obj: dict[str, Any]) -> list[Request]:
    return _labelled_request(obj)


def pod_mapper(obj: dict[str, Any]) -> list[Request]:
    return _labelled_request(obj, namespace_of(obj))


def pod_problem_changed() -> Predicate:
    """Pods matter to a workspace only for the problem they report (ImagePullBackOff, Unschedulable, ...):
    readiness comes from the workload's own status. A pod's four or five routine updates on its way to
    Running would each cost a reconcile that finds nothing new."""
    return Predicate(
        create=lambda pod: pod_problem(pod) is not None,
        update=lambda old, new: pod_problem(old) != pod_problem(new),
        delete=lambda pod: pod_problem(pod) is not None,
    )


def node_mapper(cache: Cache) -> Any:
    """A node made for a workspace maps to it; any other node may be what a waiting workspace's selector
    is looking for (bring-your-own nodes becoming Ready or gaining GPUs)."""

    def mapper(obj: dict[str, Any]) -> list[Request]:
        direct = _labelled_request(obj)
        if direct:
            return direct
        labels = labels_of(obj)
        return [
            Request(namespace_of(ws), name_of(ws))
            for ws in cache.list(kinds.WORKSPACE)
            if not condition_is(conditions_of(ws), CONDITION_RESOURCE_READY, "True")
            and selector_matches(as_workspace(ws).get("resource", {}).get("labelSelector"), labels)
        ]

    return mapper


def _config_names(ws: WorkspaceView) -> tuple[str | None, str | None]:
    return ws.get("inference", {}).get("config"), ws.get("tuning", {}).get("config")


def configmap_mapper(cache: Cache) -> Any:
    """A user's ConfigMap named by ``inference.config``/``tuning.config``: editing it must roll the pods."""

    def mapper(obj: dict[str, Any]) -> list[Request]:
        name = name_of(obj)
        return [
            Request(namespace_of(ws), name_of(ws))
            for ws in cache.list(kinds.WORKSPACE, namespace_of(obj))
            if name in _config_names(as_workspace(ws))
        ]

    return mapper


class WorkspaceHost(ControllerHost, Protocol):
    """A manager: it also runs the reconciler's background applies while this replica leads."""

    def add(self, runnable: Runnable, *, needs_leader: bool = True, name: str | None = None) -> None: ...


def setup_workspace_controller(
    host: WorkspaceHost,
    client: Client,
    presets: PresetSource,
    config: ControllerConfig,
    events: EventSink,
    metrics: WorkspaceMetrics | None = None,
) -> tuple[Controller, WorkspaceReconciler]:
    cache = host.cache
    # Every reconcile lists its workspace's pods, Machines and revisions by these labels.
    cache.index_label(kinds.POD, LABEL_WORKSPACE)
    cache.index_label(kinds.MACHINE, LABEL_WORKSPACE)
    cache.index_label(kinds.CONTROLLER_REVISION, n.LABEL_REVISION_WORKSPACE)
    cache.index_all_labels(kinds.NODE)  # workspace selectors name any node label
    reconciler = WorkspaceReconciler(cache, client, presets, config, events, metrics)
    builder = Builder(host, n.CONTROLLER_NAME).for_(kinds.WORKSPACE)
    for kind in OWNED_KINDS:
        builder = builder.owns(kind)
    controller = (
        builder.watches(kinds.MACHINE, machine_mapper)
        .watches(kinds.NODE, node_mapper(cache))
        .watches(kinds.POD, pod_mapper, pod_problem_changed())
        .watches(kinds.CONFIGMAP, configmap_mapper(cache))
        .max_concurrent_reconciles(config.max_concurrent_reconciles)
        .complete(reconciler)
    )
    reconciler.services.requeue = controller.queue.add
    # With the leader's workers: a replica that stops leading cancels its in-flight Service applies.
    host.add(reconciler.services.run, needs_leader=True, name="workspace-service-applies")
    return controller, reconciler
