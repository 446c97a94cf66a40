"""Cache transforms that keep only what the controller reads from Nodes and Pods.

A real node carries kilobytes of image lists and addresses; keeping 200 of those (and every pod of every
workspace) whole would blow the controller's memory budget, so the informer stores a slim copy.
"""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]

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


def _slim_meta(obj: Object) -> Object:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in _META_KEYS if k in meta}


def slim_node(obj: Object) -> Object:
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


def slim_pod(obj: Object) -> Object:
    status = obj.get("status") or {}
    keep = ("phase", "reason", "message", "conditions", "containerStatuses", "initContainerStatuses")
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Pod"),
        "metadata": _slim_meta(obj),
        "spec": {"nodeName": (obj.get("spec") or {}).get("nodeName")},
        "status": {k: status[k] for k in keep if k in status},
    }
