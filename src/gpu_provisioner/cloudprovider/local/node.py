"""The Node object the local provider registers, shaped like an AKS GPU node so the rest of the system
cannot tell the difference, plus kwok's marker so that kwok keeps it Ready."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import InstanceShape
from gpu_provisioner.cloudprovider.api.request import NodeRequest, Taint, TaintEffect
from gpu_provisioner.cloudprovider.naming import pool_name_for

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
                ANNOTATION_CREATED: (now or datetime.now(UTC)).isoformat(),
            },
        },
        "spec": {
            "providerID": PROVIDER_ID_SCHEME + name,
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect.value} for t in taints],
        },
        # Registered as a kubelet would, with capacity; kwok then keeps the conditions Ready.
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def instance_from_node(node: Any) -> Instance:
    """``node`` is a kubernetes_asyncio V1Node."""
    meta = node.metadata
    labels = dict(meta.labels or {})
    annotations = dict(meta.annotations or {})
    taints: list[Taint] = []
    for t in node.spec.taints or []:
        if t.key == KWOK_TAINT.key:
            continue
        try:
            taints.append(Taint(key=t.key, value=t.value or "", effect=TaintEffect(t.effect)))
        except ValueError as err:
            raise InvalidRequestError(f"node {meta.name} has taint effect {t.effect!r}") from err
    created = annotations.get(ANNOTATION_CREATED)
    status = node.status
    return Instance(
        name=labels.get("kubernetes.azure.com/agentpool", meta.name),
        machine_name=annotations.get(ANNOTATION_MACHINE),
        provider_id=node.spec.provider_id,
        instance_type=labels.get("node.kubernetes.io/instance-type", ""),
        state=InstanceState.DELETING if meta.deletion_timestamp else InstanceState.RUNNING,
        capacity=dict((status.capacity if status else None) or {}),
        allocatable=dict((status.allocatable if status else None) or {}),
        labels=labels,
        taints=tuple(taints),
        tags={},
        created_at=datetime.fromisoformat(created) if created else None,
    )
