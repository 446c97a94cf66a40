"""Small readers over Machine and Node dicts shared by the lifecycle, termination and GC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gpu_provisioner.controllers.machine.conditions import parse_time
from kaito.api.constants import LABEL_RAGENGINE, LABEL_WORKSPACE, MACHINE_TERMINATION_FINALIZER

Object = dict[str, Any]

# AKS puts the pool name on every node of the pool under both keys.
AGENTPOOL_LABELS = ("kubernetes.azure.com/agentpool", "agentpool")
EPHEMERAL_TAINT_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.cloudprovider.kubernetes.io/uninitialized",
    }
)


def meta(obj: Object) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name_of(obj: Object) -> str:
    return str(meta(obj).get("name", ""))


def labels_of(obj: Object) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Object) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def is_deleting(obj: Object) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def created_at(obj: Object) -> datetime | None:
    return parse_time(meta(obj).get("creationTimestamp"))


def is_managed(machine: Object) -> bool:
    """Only KAITO's Machines are ours (upstream's KaitoMachinePredicate): other karpenter users may
    share the CRD and their Machines must never be launched or terminated by us."""
    labels = labels_of(machine)
    return LABEL_WORKSPACE in labels or LABEL_RAGENGINE in labels


def has_finalizer(obj: Object) -> bool:
    return MACHINE_TERMINATION_FINALIZER in (meta(obj).get("finalizers") or [])


def status_of(obj: Object) -> dict[str, Any]:
    s = obj.get("status")
    return dict(s) if isinstance(s, dict) else {}


def provider_id_of(node: Object) -> str:
    return str((node.get("spec") or {}).get("providerID") or "")


def same_provider_id(a: str | None, b: str | None) -> bool:
    # cloud-provider-azure lower-cases the resource group; compare case-insensitively.
    return bool(a) and bool(b) and str(a).lower() == str(b).lower()


def node_owner_machine(node: Object) -> tuple[str, str] | None:
    """(name, uid) of the Machine owning this Node, from its ownerReferences."""
    for ref in meta(node).get("ownerReferences") or []:
        if ref.get("kind") == "Machine" and str(ref.get("apiVersion", "")).startswith("karpenter.sh/"):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


def node_pool_name(node: Object) -> str | None:
    labels = labels_of(node)
    for key in AGENTPOOL_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def node_is_ready(node: Object) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def node_taints(node: Object) -> list[dict[str, Any]]:
    return [dict(t) for t in (node.get("spec") or {}).get("taints") or []]
