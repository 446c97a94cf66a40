"""Registration: find the Node that joined with the Machine's providerID and tie it to the Machine.

The Node gets the Machine's labels and taints (with the local provider nothing else puts them
there), ``karpenter.sh/registered=true``, and an ownerReference so that a Node whose Machine is
gone is recognisably ours for garbage collection.
"""

from __future__ import annotations

from gpu_provisioner.controllers.machine.conditions import set_condition
from gpu_provisioner.controllers.machine.context import Deps, Pass
from gpu_provisioner.controllers.machine.objects import node_taints, provider_id_of, same_provider_id
from kaito.api.constants import (
    LABEL_REGISTERED,
    MACHINE_API_VERSION,
    MACHINE_CONDITION_REGISTERED,
    MACHINE_KIND,
)
from kaito.runtime.objects import Obj, condition_is, labels_of, meta, name_of


def nodes_with_provider_id(nodes: list[Obj], provider_id: str | None) -> list[Obj]:
    return [n for n in nodes if same_provider_id(provider_id_of(n), provider_id)]


def node_patches_for(machine: Obj, node: Obj, extra_labels: dict[str, str]) -> list[Obj | list[Obj]]:
    """The patches giving ``node`` the Machine's labels, taints and ownership; empty if it has them.

    Labels and the ownerReference go in a strategic merge patch (ownerReferences merge by uid). Taints
    have no merge key, so they go in a JSON patch that first tests the list is still what we read:
    a concurrent taint change fails the patch (and the reconcile retries) instead of being lost.
    """
    labels = labels_of(node)
    wanted = {**labels_of(machine), **extra_labels}
    label_changes = {k: v for k, v in wanted.items() if labels.get(k) != v}
    uid = meta(machine).get("uid")
    owned = any(r.get("uid") == uid for r in meta(node).get("ownerReferences") or [])
    merge: Obj = {}
    if label_changes:
        merge.setdefault("metadata", {})["labels"] = label_changes
    if uid and not owned:
        merge.setdefault("metadata", {})["ownerReferences"] = [
            {
                "apiVersion": MACHINE_API_VERSION,
                "kind": MACHINE_KIND,
                "name": name_of(machine),
                "uid": uid,
                "blockOwnerDeletion": True,
            }
        ]
    patches: list[Obj | list[Obj]] = [merge] if merge else []

    current = node_taints(node)
    taints = list(current)
    for t in (machine.get("spec") or {}).get("taints") or []:
        if not any(x.get("key") == t.get("key") and x.get("effect") == t.get("effect") for x in taints):
            taints.append({k: v for k, v in t.items() if k in ("key", "value", "effect")})
    if taints != current:
        if "taints" in (node.get("spec") or {}):
            patches.append(
                [
                    {"op": "test", "path": "/spec/taints", "value": current},
                    {"op": "replace", "path": "/spec/taints", "value": taints},
                ]
            )
        else:
            patches.append([{"op": "add", "path": "/spec/taints", "value": taints}])
    return patches


async def register(deps: Deps, p: Pass, nodes: list[Obj]) -> bool:
    """Returns True once the Machine is registered."""
    registered = condition_is(p.status.get("conditions"), MACHINE_CONDITION_REGISTERED, "True")
    if registered and p.status.get("nodeName"):
        return True
    found = nodes_with_provider_id(nodes, p.status.get("providerID"))
    if not found:
        # Unknown, not False: waiting for the kubelet to join is progress, not a failure (karpenter v1's
        # convention); the liveness TTL turns a wait that never ends into a deletion.
        set_condition(
            p.status,
            MACHINE_CONDITION_REGISTERED,
            "Unknown",
            now=p.now,
            reason="NodeNotFound",
            message="Node not registered with cluster",
        )
        p.requeue(deps.settings.poll_interval)
        return False
    if len(found) > 1:
        set_condition(
            p.status,
            MACHINE_CONDITION_REGISTERED,
            "False",
            now=p.now,
            reason="MultipleNodesFound",
            message=f"{len(found)} nodes have providerID {p.status.get('providerID')}",
        )
        p.requeue(deps.settings.poll_interval * 6)
        return False
    node = found[0]
    machine = {**p.machine, "metadata": {**meta(p.machine), "labels": p.labels}}
    for patch in node_patches_for(machine, node, {LABEL_REGISTERED: "true"}):
        await deps.kube.patch_node(name_of(node), patch)
    node_status = node.get("status") or {}
    p.status["nodeName"] = name_of(node)
    if node_status.get("capacity"):
        p.status["capacity"] = dict(node_status["capacity"])
    if node_status.get("allocatable"):
        p.status["allocatable"] = dict(node_status["allocatable"])
    set_condition(p.status, MACHINE_CONDITION_REGISTERED, "True", now=p.now)
    deps.metrics.machines_registered.labels(deps.metrics.provider).inc()
    deps.kube.event(p.machine, "Normal", "Registered", f"node {name_of(node)} registered")
    p.log.info("registered", node=name_of(node))
    return True
