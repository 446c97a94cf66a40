"""Machines (``karpenter.sh/v1alpha5``): the manifest the provisioner turns into a GPU node, and how to
read one back (ready, failed, or still on its way)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaito.api.constants import (
    LABEL_ARCH,
    LABEL_INSTANCE_TYPE,
    LABEL_MACHINE_TYPE,
    LABEL_OS,
    LABEL_PROVISIONER_NAME,
    MACHINE_API_VERSION,
    MACHINE_KIND,
)
from kaito.api.labels import stamped_labels
from kaito.api.views import as_workspace
from kaito.runtime.objects import Obj, get_path, is_deleting, namespace_of
from kaito.workspace.names import MACHINE_TYPE_GPU, PROVISIONER_NAME
from kaito.workspace.objects import workspace_labels

GPU_TAINT: Mapping[str, str] = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
_REASON_RE = re.compile(r"[^A-Za-z0-9_,:]")


def machine_name(workspace: Mapping[str, Any], index: int) -> str:
    """``ws`` + 9 hex chars of a hash of the workspace's identity (uid included) and a slot index.

    Deterministic on purpose: a create whose response was lost (the write may have landed) is retried
    under the same name and answered AlreadyExists, so it can never become a second GPU node. The name
    is also the AKS agent-pool name, hence at most 12 characters.
    """
    m = workspace["metadata"]
    seed = f"{namespace_of(workspace)}/{m['name']}/{m.get('uid', '')}/{index}"
    return "ws" + hashlib.sha256(seed.encode()).hexdigest()[:9]


def free_machine_names(workspace: Mapping[str, Any], taken: set[str], count: int) -> list[str]:
    """The first ``count`` slot names not taken by an existing (in any state) or expected Machine."""
    names: list[str] = []
    index = 0
    while len(names) < count:
        name = machine_name(workspace, index)
        if name not in taken:
            names.append(name)
        index += 1
    return names


def machine_manifest(workspace: Mapping[str, Any], name: str, storage: str, arch: str = "amd64") -> Obj:
    """The Machine for one missing node: workspace labels plus labels that make the new node match the
    selector (never keys Kubernetes reserves, see :func:`~kaito.api.labels.stamped_labels`), instance
    type/arch/os/machine-type requirements, the ``sku=gpu`` taint and the disk size."""
    resource = as_workspace(workspace).get("resource", {})
    instance_type = resource.get("instanceType", "")
    match_labels = stamped_labels(resource.get("labelSelector"))
    labels = {LABEL_PROVISIONER_NAME: PROVISIONER_NAME, **match_labels, **workspace_labels(workspace)}
    requirements = [
        {"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": [instance_type]},
        {"key": LABEL_PROVISIONER_NAME, "operator": "In", "values": [PROVISIONER_NAME]},
        {"key": LABEL_MACHINE_TYPE, "operator": "In", "values": [MACHINE_TYPE_GPU]},
        {"key": LABEL_ARCH, "operator": "In", "values": [arch]},
        {"key": LABEL_OS, "operator": "In", "values": ["linux"]},
    ]
    spec: Obj = {
        "requirements": requirements,
        "taints": [dict(GPU_TAINT)],
        "machineTemplateRef": {"name": name},
    }
    if storage and storage != "0":
        spec["resources"] = {"requests": {"storage": storage}}
    return {
        "apiVersion": MACHINE_API_VERSION,
        "kind": MACHINE_KIND,
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def _conditions(machine: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for condition in get_path(machine, "status", "conditions") or []:
        if isinstance(condition, Mapping):
            # v1alpha5 names them MachineLaunched/...; the NodeClaim era drops the prefix.
            out[str(condition.get("type", "")).removeprefix("Machine")] = condition
    return out


def machine_node_name(machine: Mapping[str, Any]) -> str:
    return str(get_path(machine, "status", "nodeName") or "")


@dataclass(frozen=True)
class MachineFailure:
    """Why a Machine cannot become a node, as the provisioner reported it."""

    machine: str
    condition: str
    reason: str
    message: str


def machine_failure(machine: Mapping[str, Any]) -> MachineFailure | None:
    """A False Launched/Registered/Initialized/Ready condition with a reason is a failure to surface
    (e.g. ``Launched=False`` with a quota message); Unknown means still in progress."""
    conditions = _conditions(machine)
    for kind in ("Launched", "Registered", "Initialized", "Ready"):
        condition = conditions.get(kind)
        if condition is None or condition.get("status") != "False":
            continue
        reason = str(condition.get("reason") or "")
        message = str(condition.get("message") or "")
        if not reason and not message:
            continue
        return MachineFailure(
            machine=str(get_path(machine, "metadata", "name") or ""),
            condition=kind,
            reason=sanitize_reason(reason) or f"Machine{kind}Failed",
            message=message or reason,
        )
    return None


def release_problem(machine: Mapping[str, Any]) -> str | None:
    """Why a deleted Machine is not gone yet, as the provisioner recorded it (``MachineTerminated=False``
    with the cloud's error), or None while its release is simply in progress."""
    condition = _conditions(machine).get("Terminated")
    if condition is None or condition.get("status") != "False":
        return None
    reason = str(condition.get("reason") or "")
    message = str(condition.get("message") or "")
    detail = f"{reason}: {message}" if reason and message else reason or message or "no reason given"
    return f"machine {get_path(machine, 'metadata', 'name')} cannot be released ({detail})"


def sanitize_reason(reason: str) -> str:
    """metav1.Condition reasons must match ``^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$``."""
    cleaned = _REASON_RE.sub("", reason.title() if " " in reason else reason)
    cleaned = cleaned.lstrip("0123456789_,:").rstrip(",:")
    return cleaned[:1024]


def live_machines(machines: Sequence[Obj]) -> list[Obj]:
    return [m for m in machines if not is_deleting(m)]
