"""Machine- and Node-specific readers shared by the lifecycle, termination and GC (the generic
accessors are :mod:`kaito.runtime.objects`)."""

from __future__ import annotations

from typing import Any

from kaito.api.constants import LABEL_RAGENGINE, LABEL_WORKSPACE, MACHINE_TERMINATION_FINALIZER
from kaito.runtime.objects import Obj, labels_of, meta

# AKS puts the pool name on every node of the pool under both keys.
AGENTPOOL_LABELS = ("kubernetes.azure.com/agentpool", "agentpool")
EPHEMERAL_TAINT_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.cloudprovider.kubernetes.io/uninitialized",
    }
)


def is_managed(machine: Obj) -> bool:
    """Only KAITO's Machines are ours (upstream's KaitoMachinePredicate): other karpenter users may
    share the CRD and their Machines must never be launched or terminated by us."""
    labels = labels_of(machine)
    return LABEL_WORKSPACE in labels or LABEL_RAGENGINE in labels


def has_finalizer(obj: Obj) -> bool:
    return MACHINE_TERMINATION_FINALIZER in (meta(obj).get("finalizers") or [])


def status_of(obj: Obj) -> dict[str, Any]:
    s = obj.get("status")
    return dict(s) if isinstance(s, dict) else {}


def provider_id_of(node: Obj) -> str:
    return str((node.get("spec") or {}).get("providerID") or "")


def same_provider_id(a: str | None, b: str | None) -> bool:
    # cloud-provider-azure lower-cases the resource group; compare case-insensitively.
    return bool(a) and bool(b) and str(a).lower() == str(b).lower()


def node_owner_machine(node: Obj) -> tuple[str, str] | None:
    """(name, uid) of the Machine owning this Node, from its ownerReferences."""
    for ref in meta(node).get("ownerReferences") or []:
        if ref.get("kind") == "Machine" and str(ref.get("apiVersion", "")).startswith("karpenter.sh/"):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


def node_pool_name(node: Obj) -> str | None:
    labels = labels_of(node)
    for key in AGENTPOOL_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def node_taints(node: Obj) -> list[dict[str, Any]]:
    return [dict(t) for t in (node.get("spec") or {}).get("taints") or []]
