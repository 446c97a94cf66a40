"""Initialization: the Node is Ready, start-up and ephemeral taints are gone, and every resource the
Machine asked for (the GPU above all) shows allocatable. Storage is exempt: no Node reports it (#12)."""

from __future__ import annotations

from gpu_provisioner.controllers.machine.conditions import set_condition
from gpu_provisioner.controllers.machine.context import Deps, Pass
from gpu_provisioner.controllers.machine.objects import EPHEMERAL_TAINT_KEYS, node_taints
from gpu_provisioner.controllers.machine.request import expects_gpu
from kaito.api.constants import LABEL_INITIALIZED, MACHINE_CONDITION_INITIALIZED
from kaito.api.quantity import QuantityError, parse_quantity
from kaito.api.views import as_machine
from kaito.runtime.objects import Obj, condition_is, labels_of, meta, name_of, node_is_ready

GPU_RESOURCE = "nvidia.com/gpu"


def _positive(value: object) -> bool:
    try:
        return parse_quantity(str(value)) > 0
    except QuantityError:
        return False


def not_initialized_reason(machine: Obj, node: Obj) -> tuple[str, str] | None:
    """(reason, message) why the Node is not initialized yet, or None when it is."""
    if not node_is_ready(node):
        return "NodeNotReady", f"node {name_of(node)} is not Ready"
    taints = node_taints(node)
    spec = as_machine(machine).get("spec", {})
    for st in spec.get("startupTaints", []):
        if any(t.get("key") == st["key"] and t.get("effect") == st["effect"] for t in taints):
            return "StartupTaintsExist", f"startup taint {st['key']} is still on the node"
    for t in taints:
        if t.get("key") in EPHEMERAL_TAINT_KEYS:
            return "KnownEphemeralTaintsExist", f"taint {t.get('key')} is still on the node"
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    requests = spec.get("resources", {}).get("requests", {})
    wanted = [r for r, q in requests.items() if r != "storage" and _positive(q)]
    if expects_gpu(machine) and GPU_RESOURCE not in wanted:
        wanted.append(GPU_RESOURCE)
    for resource in wanted:
        if not _positive(allocatable.get(resource, "0")):
            return "ResourceNotRegistered", f"{resource} is not yet allocatable on node {name_of(node)}"
    return None


async def initialize(deps: Deps, p: Pass, nodes: list[Obj]) -> bool:
    if condition_is(p.status.get("conditions"), MACHINE_CONDITION_INITIALIZED, "True"):
        return True
    node_name = p.status.get("nodeName")
    node = next((n for n in nodes if name_of(n) == node_name), None)
    if node is None:
        set_condition(
            p.status, MACHINE_CONDITION_INITIALIZED, "Unknown", now=p.now, reason="NodeNotFound",
            message=f"node {node_name} not found",
        )  # fmt: skip
        p.requeue(deps.settings.poll_interval)
        return False
    why = not_initialized_reason(p.machine, node)
    if why is not None:
        # Unknown, not False: a node coming up (NotReady, GPU not yet advertised) is progress.
        set_condition(
            p.status, MACHINE_CONDITION_INITIALIZED, "Unknown", now=p.now, reason=why[0], message=why[1]
        )
        p.requeue(deps.settings.poll_interval)
        return False
    if labels_of(node).get(LABEL_INITIALIZED) != "true":
        await deps.kube.patch_node(name_of(node), {"metadata": {"labels": {LABEL_INITIALIZED: "true"}}})
    node_status = node.get("status") or {}
    if node_status.get("allocatable"):
        p.status["allocatable"] = dict(node_status["allocatable"])
    if node_status.get("capacity"):
        p.status["capacity"] = dict(node_status["capacity"])
    set_condition(p.status, MACHINE_CONDITION_INITIALIZED, "True", now=p.now)
    deps.metrics.machines_initialized.labels(deps.metrics.provider).inc()
    deps.kube.event(p.machine, "Normal", "Initialized", f"node {name_of(node)} is ready for work")
    p.log.info("initialized", node=name_of(node), uid=meta(node).get("uid"))
    return True


def node_health(p: Pass, nodes: list[Obj]) -> tuple[str, str] | None:
    """Why an initialized Machine's Node is not serving now (gone or NotReady), or None if it is.

    Initialized never flips back (as upstream's), so Ready carries this: the workspace controller and
    ``kubectl get machines`` see a lost node at once instead of a Machine that stays Ready forever."""
    if not condition_is(p.status.get("conditions"), MACHINE_CONDITION_INITIALIZED, "True"):
        return None
    node_name = p.status.get("nodeName")
    node = next((n for n in nodes if name_of(n) == node_name), None)
    if node is None:
        return "NodeNotFound", f"node {node_name} no longer exists"
    if not node_is_ready(node):
        return "NodeNotReady", f"node {node_name} is not Ready"
    return None
