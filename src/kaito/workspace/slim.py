"""Cache transforms that keep only what the controller reads from Nodes, Pods, workloads and revisions.

A real node carries kilobytes of image lists and addresses; keeping 200 of those (and every pod of every
workspace) whole would blow the controller's memory budget, so the informer stores a slim copy. The
workloads we own are compared by their manifest-hash annotation and judged by their status, never by
their pod template, which is two thirds of a Deployment's size in memory (13 of 21 KiB measured).
"""

from __future__ import annotations

from kaito.runtime.informer import strip_managed_fields
from kaito.runtime.objects import Obj

_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "labels",
    "deletionTimestamp",
    "ownerReferences",
    "creationTimestamp",
)


def _slim_meta(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in _META_KEYS if k in meta}


def slim_node(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Node"),
        "metadata": _slim_meta(obj),
        "spec": {k: spec[k] for k in ("unschedulable", "taints") if k in spec},
        "status": {
            "capacity": status.get("capacity") or {},
            "conditions": [c for c in status.get("conditions") or [] if c.get("type") == "Ready"],
        },
    }


def slim_pod(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    keep = ("phase", "reason", "message", "conditions", "containerStatuses", "initContainerStatuses")
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Pod"),
        "metadata": _slim_meta(obj),
        "spec": {"nodeName": (obj.get("spec") or {}).get("nodeName")},
        "status": {k: status[k] for k in keep if k in status},
    }


def slim_workload(obj: Obj) -> Obj:
    """A Deployment/StatefulSet/Job without its pod template (``spec.replicas`` and status stay)."""
    strip_managed_fields(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.pop("template", None)
    return obj


def slim_revision(obj: Obj) -> Obj:
    """A ControllerRevision without its ``data`` (the spec snapshot): history is pruned by revision
    number and matched by the spec-hash annotation, so the snapshot itself is only for users to read."""
    strip_managed_fields(obj)
    obj.pop("data", None)
    return obj
