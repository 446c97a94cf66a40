"""Pieces every pod KAITO runs on GPU nodes shares: node affinity, tolerations, GPU resources, /dev/shm."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from kaito.api.views import as_workspace
from kaito.runtime.objects import Obj, annotations_of
from kaito.workspace.names import ANNOTATION_MANIFEST_HASH, GPU_RESOURCE, MOUNT_SHM
from kaito.workspace.objects import stable_hash

GPU_TOLERATIONS: tuple[Mapping[str, str], ...] = (
    {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
    {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
)


def tolerations(extra: Sequence[Mapping[str, Any]] = ()) -> list[Obj]:
    return [dict(t) for t in GPU_TOLERATIONS] + [dict(t) for t in extra]


def node_affinity(workspace: Mapping[str, Any], worker_nodes: Sequence[str]) -> Obj:
    """Required node affinity: the selector's labels and, once known, exactly the chosen worker nodes
    (matched by ``metadata.name``, which unlike the hostname label is always the node's name)."""
    selector = as_workspace(workspace).get("resource", {}).get("labelSelector", {})
    expressions: list[Obj] = [
        {"key": key, "operator": "In", "values": [value]}
        for key, value in sorted(selector.get("matchLabels", {}).items())
    ]
    expressions.extend(copy.deepcopy(dict(e)) for e in selector.get("matchExpressions", []))
    # A matchFields requirement takes exactly one value, so each worker node gets its own term (terms
    # are ORed), each also carrying the selector's expressions.
    terms: list[Obj] = [
        {
            **({"matchExpressions": copy.deepcopy(expressions)} if expressions else {}),
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}],
        }
        for node in sorted(worker_nodes)
    ]
    if not terms and expressions:
        terms = [{"matchExpressions": expressions}]
    if not terms:
        return {}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def merge_affinity(user: Mapping[str, Any] | None, kaito: Mapping[str, Any]) -> Obj:
    """The user's affinity with KAITO's required node affinity ANDed in: the pod may only land on the
    Workspace's GPU nodes, whatever the user asked for besides. Node selector terms are ORed, so KAITO's
    requirement must hold in each: every user term x every KAITO term, expressions and fields joined."""
    merged: Obj = copy.deepcopy(dict(user or {}))
    ours = (
        (kaito.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    ).get("nodeSelectorTerms") or []
    if not ours:
        return merged
    node_affinity = merged.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    theirs = list(required.get("nodeSelectorTerms") or []) or [{}]
    required["nodeSelectorTerms"] = [
        {
            key: list(term.get(key) or []) + list(copy.deepcopy(our.get(key) or []))
            for key in ("matchExpressions", "matchFields")
            if term.get(key) or our.get(key)
        }
        for term in theirs
        for our in ours
    ]
    return merged


def gpu_resources(gpus: int) -> Obj:
    if gpus <= 0:
        return {}
    quantity = str(gpus)
    return {"requests": {GPU_RESOURCE: quantity}, "limits": {GPU_RESOURCE: quantity}}


# Scratch volumes are bounded: a runaway write gets the pod evicted instead of filling the node's disk
# (or, for /dev/shm, its memory).
SHM_SIZE_LIMIT = "16Gi"
SCRATCH_SIZE_LIMIT = "64Gi"
# The preset and data-mover images' user; a pod fixes it so that an image without a numeric USER still
# runs unprivileged, and fsGroup makes its volumes writable.
WORKLOAD_UID = 65532


def shm_volume() -> tuple[Obj, Obj]:
    """Torch's data loaders and NCCL need more shared memory than the container default of 64 MiB."""
    return (
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE_LIMIT}},
        {"name": "dshm", "mountPath": MOUNT_SHM},
    )


def scratch_volume(name: str) -> Obj:
    return {"name": name, "emptyDir": {"sizeLimit": SCRATCH_SIZE_LIMIT}}


def restricted(pod_spec: Obj) -> Obj:
    """Makes a pod KAITO generates pass Pod Security ``restricted``: non-root, RuntimeDefault seccomp, no
    privilege escalation, every capability dropped, and no ServiceAccount token (nothing in the
    workload talks to the apiserver)."""
    pod_spec["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": WORKLOAD_UID,
        "runAsGroup": WORKLOAD_UID,
        "fsGroup": WORKLOAD_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_spec["automountServiceAccountToken"] = False
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        container["securityContext"] = {
            **(container.get("securityContext") or {}),
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
    return pod_spec


def pull_secrets(names: Sequence[str]) -> list[Obj]:
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return [{"name": n} for n in seen]


def stamp_hash(obj: Obj) -> Obj:
    """Sets ``kaito.sh/manifest-hash`` to a hash of everything else in the manifest; comparing it with the
    live object's tells whether a write is needed without a field-by-field diff against server defaults."""
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    annotations.pop(ANNOTATION_MANIFEST_HASH, None)
    annotations[ANNOTATION_MANIFEST_HASH] = stable_hash(obj)
    return obj


def manifest_hash(obj: Mapping[str, Any]) -> str:
    return str(annotations_of(obj).get(ANNOTATION_MANIFEST_HASH, ""))
