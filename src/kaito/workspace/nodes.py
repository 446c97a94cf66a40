"""Which nodes a Workspace runs on: existing Ready GPU nodes first, Machines for the shortfall.

Pure functions over cached dicts, so the choice is the same on every reconcile for the same world.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaito.api.constants import (
    LABEL_ACCELERATOR,
    LABEL_INSTANCE_TYPE,
    LABEL_WORKSPACE,
    LABEL_WORKSPACE_NAMESPACE,
)
from kaito.api.quantity import QuantityError, parse_quantity
from kaito.api.views import as_workspace
from kaito.runtime.objects import get_path, is_deleting, labels_of, name_of, namespace_of, node_is_ready
from kaito.workspace.names import ACCELERATOR_NVIDIA, GPU_RESOURCE


def node_gpus(node: Mapping[str, Any]) -> int:
    raw = get_path(node, "status", "capacity", GPU_RESOURCE)
    if raw is None:
        return 0
    try:
        return int(parse_quantity(raw))
    except QuantityError:
        return 0


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: every matchLabel and every matchExpression must hold."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def instance_type_matches(node: Mapping[str, Any], instance_type: str) -> bool:
    if not instance_type:
        return True
    return labels_of(node).get(LABEL_INSTANCE_TYPE, "").lower() == instance_type.lower()


def belongs_to_other_workspace(node: Mapping[str, Any], workspace: Mapping[str, Any]) -> bool:
    """A node made for another workspace's Machine is that workspace's, even if its labels match ours."""
    labels = labels_of(node)
    owner = labels.get(LABEL_WORKSPACE)
    if owner is None:
        return False
    return owner != name_of(workspace) or labels.get(LABEL_WORKSPACE_NAMESPACE) != namespace_of(workspace)


def node_qualifies(node: Mapping[str, Any], workspace: Mapping[str, Any]) -> bool:
    """Ready, matching the selector and instance type, and not another workspace's dedicated node."""
    resource = as_workspace(workspace).get("resource", {})
    # The selector first: it turns away nearly every node of a big cluster with a dict lookup or two.
    return (
        selector_matches(resource.get("labelSelector"), labels_of(node))
        and node_is_ready(node)
        and not get_path(node, "spec", "unschedulable")
        and not is_deleting(node)
        and instance_type_matches(node, resource.get("instanceType", ""))
        and not belongs_to_other_workspace(node, workspace)
    )


def needs_accelerator_label(node: Mapping[str, Any]) -> bool:
    """The NVIDIA device plugin DaemonSet only lands on nodes labelled ``accelerator=nvidia``."""
    return labels_of(node).get(LABEL_ACCELERATOR) != ACCELERATOR_NVIDIA


@dataclass(frozen=True)
class NodeChoice:
    """The nodes picked for a workspace: ``selected`` are qualified (maybe without GPUs yet), ``usable``
    the selected ones that already expose ``nvidia.com/gpu``."""

    selected: list[Mapping[str, Any]]
    usable: list[Mapping[str, Any]]

    @property
    def usable_names(self) -> list[str]:
        return [name_of(n) for n in self.usable]


def choose_nodes(
    workspace: Mapping[str, Any],
    nodes: Iterable[Mapping[str, Any]],
    machine_node_names: Sequence[str] = (),
) -> NodeChoice:
    """Picks up to ``resource.count`` qualified nodes.

    Order: ``preferredNodes``, then the current ``status.workerNodes`` (so a running workload is not moved),
    then nodes of this workspace's Machines, then any other match; within each group nodes that already
    have GPUs come first, then by name, so the choice is stable across reconciles.
    """
    ws = as_workspace(workspace)
    resource = ws.get("resource", {})
    count = resource.get("count", 1)
    preferred = list(resource.get("preferredNodes", []))
    current = list(ws.get("status", {}).get("workerNodes", []))
    own = list(machine_node_names)

    def rank(node: Mapping[str, Any]) -> tuple[int, int, str]:
        name = name_of(node)
        if name in preferred:
            group = 0
        elif name in current:
            group = 1
        elif name in own:
            group = 2
        else:
            group = 3
        return (group, 0 if node_gpus(node) > 0 else 1, name)

    qualified = sorted((n for n in nodes if node_qualifies(n, workspace)), key=rank)
    selected = qualified[:count]
    return NodeChoice(selected=selected, usable=[n for n in selected if node_gpus(n) > 0])
