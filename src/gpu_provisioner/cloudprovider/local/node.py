"""The Node object the local provider registers, shaped like an AKS GPU node so the rest of the system
cannot tell the difference, plus kwok's marker so that kwok keeps it Ready."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import InstanceShape
from gpu_provisioner.cloudprovider.api.request import NodeRequest, Taint, TaintEffect
from gpu_provisioner.cloudprovider.naming import pool_name_for
from kaito.runtime.objects import Obj, annotations_of, is_deleting, labels_of, name_of
from kaito.runtime.timefmt import parse_time, rfc3339

LABEL_PROVIDER = "gpu-provisioner.kaito.sh/provider"
LABEL_PROVIDER_VALUE = "local"
ANNOTATION_MACHINE = "gpu-provisioner.kaito.sh/machine"
ANNOTATION_CREATED = "gpu-provisioner.kaito.sh/created-at"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_TAINT = Taint(key="kwok.x-k8s.io/node", value="fake", effect=TaintEffect.NO_SCHEDULE)
PROVIDER_ID_SCHEME = "kwok://"


def is_local_node(node: Mapping[str, Any]) -> bool:
    """A Node this provider registered: it carries the provider's label."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(LABEL_PROVIDER) == LABEL_PROVIDER_VALUE)


def machine_of_node(node: Mapping[str, Any]) -> str | None:
    """The Machine named on a Node this provider registered."""
    if not is_local_node(node):
        return None
    name = ((node.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_MACHINE)
    return str(name) if name else None


def node_name_for(machine_name: str) -> str:
    return f"kwok-{pool_name_for(machine_name)}"


def build_node(request: NodeRequest, info: InstanceShape, now: datetime | None = None) -> dict[str, Any]:
    pool = pool_name_for(request.name)
    name = node_name_for(request.name)
    labels = dict(request.labels)
    labels.update(
        {
            "kubernetes.azure.com/agentpool": pool,
            "agentpool": pool,
            "node.kubernetes.io/instance-type": request.instance_type,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kaito.sh/machine-type": "gpu" if info.gpu_count else "cpu",
            "type": "kwok",
            LABEL_PROVIDER: LABEL_PROVIDER_VALUE,
        }
    )
    if info.gpu_count:
        # What NVIDIA's GPU feature discovery would label a real node with.
        labels["accelerator"] = "nvidia"
        labels["nvidia.com/gpu.count"] = str(info.gpu_count)
        labels["nvidia.com/gpu.memory"] = str(info.gpu_memory_gib * 1024 // info.gpu_count)
        if info.gpu_model:
            labels["nvidia.com/gpu.product"] = info.gpu_model
    capacity = info.capacity(request.os_disk_gb)
    taints = [*request.taints, KWOK_TAINT]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                KWOK_ANNOTATION: "fake",
                ANNOTATION_MACHINE: request.name,
                ANNOTATION_CREATED: rfc3339(now),
            },
        },
        "spec": {
            "providerID": PROVIDER_ID_SCHEME + name,
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect.value} for t in taints],
        },
        # Registered as a kubelet would, with capacity; kwok then keeps the conditions Ready.
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def instance_from_node(node: Obj) -> Instance:
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    name = name_of(node)
    labels = dict(labels_of(node))
    annotations = annotations_of(node)
    taints: list[Taint] = []
    for t in spec.get("taints") or []:
        key, effect = t.get("key", ""), t.get("effect")
        if key == KWOK_TAINT.key:
            continue
        try:
            taints.append(Taint(key=key, value=t.get("value") or "", effect=TaintEffect(effect)))
        except ValueError as err:
            raise InvalidRequestError(f"node {name} has taint effect {effect!r}") from err
    return Instance(
        name=labels.get("kubernetes.azure.com/agentpool", name),
        machine_name=annotations.get(ANNOTATION_MACHINE),
        provider_id=spec.get("providerID"),
        instance_type=labels.get("node.kubernetes.io/instance-type", ""),
        state=InstanceState.DELETING if is_deleting(node) else InstanceState.RUNNING,
        capacity=dict(status.get("capacity") or {}),
        allocatable=dict(status.get("allocatable") or {}),
        labels=labels,
        taints=tuple(taints),
        tags={},
        created_at=parse_time(annotations.get(ANNOTATION_CREATED)),
    )
