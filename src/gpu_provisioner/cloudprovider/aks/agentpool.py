"""The AgentPool body we send for a Machine, and what we read back from one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.mgmt.containerservice import models as cs

from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import InstanceTypeLookup
from gpu_provisioner.cloudprovider.api.request import NodeRequest, Taint
from kaito.api.constants import LABEL_PROVISIONER_NAME

# Azure tag names may not contain '/', so these are not Kubernetes-style keys.
TAG_MANAGED_BY = "kaito-managed-by"
TAG_MANAGED_BY_VALUE = "gpu-provisioner"
TAG_MACHINE = "kaito-machine"
TAG_CREATED = "kaito-creation-timestamp"
# AKS copies this tag onto the pool's scale set; it is how a pool's VMs are found in the node resource group.
VMSS_POOL_TAG = "aks-managed-poolName"

LABEL_MACHINE_TYPE = "kaito.sh/machine-type"
LABEL_AGENTPOOL = "kubernetes.azure.com/agentpool"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"

# Older AKS node images label the pool with the bare key too.
_POOL_LABELS = (LABEL_AGENTPOOL, "agentpool")

_IMAGE_FAMILIES = {"ubuntu": "Ubuntu", "azurelinux": "AzureLinux"}
_TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


def machine_type(vm_size: str) -> str:
    """Upstream's rule: anything in the N family is a GPU SKU."""
    return "gpu" if "standard_n" in vm_size.lower() else "cpu"


def build_agent_pool(request: NodeRequest, now: datetime | None = None) -> cs.AgentPool:
    labels = dict(request.labels)
    labels[LABEL_MACHINE_TYPE] = machine_type(request.instance_type)
    created = (now or datetime.now(UTC)).strftime(_TIME_FORMAT)
    props = cs.AgentPoolManagedClusterAgentPoolProfileProperties(
        # The pool type, not the ARM resource `type` (a pitfall of the flattened model).
        type_properties_type="VirtualMachineScaleSets",
        vm_size=request.instance_type,
        count=1,
        mode="User",
        os_type="Linux",
        node_labels=labels,
        node_taints=[t.to_aks() for t in request.taints],
        tags={TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_MACHINE: request.name, TAG_CREATED: created},
    )
    if request.os_disk_gb is not None:
        props.os_disk_size_gb = request.os_disk_gb
    if request.image_family is not None:
        sku = _IMAGE_FAMILIES.get(request.image_family.lower())
        if sku is None:
            raise InvalidRequestError(
                f"image family {request.image_family!r} is not one of {sorted(_IMAGE_FAMILIES.values())}"
            )
        props.os_sku = sku
    return cs.AgentPool(properties=props)


def is_ours(pool: cs.AgentPool) -> bool:
    return (pool.tags or {}).get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


def machine_of(pool: cs.AgentPool) -> str | None:
    return (pool.tags or {}).get(TAG_MACHINE)


def provisioning_state(pool: cs.AgentPool) -> str:
    return str(pool.provisioning_state or "")


def instance_state(pool: cs.AgentPool) -> InstanceState:
    state = provisioning_state(pool).lower()
    if "delet" in state:
        return InstanceState.DELETING
    if state in ("creating", "accepted"):
        return InstanceState.CREATING
    # An existing pool under maintenance (node-image upgrade, scale, start/stop) still has its node.
    if state in ("succeeded", "updating", "upgrading", "scaling", "starting", "stopping", "reconciling"):
        return InstanceState.RUNNING
    if state in ("failed", "canceled"):
        return InstanceState.FAILED
    return InstanceState.UNKNOWN


def _created_at(tags: Mapping[str, str]) -> datetime | None:
    raw = tags.get(TAG_CREATED)
    if not raw:
        return None
    try:
        return datetime.strptime(raw, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_pool_node(node: Mapping[str, Any]) -> bool:
    """A Node of an agent pool made for a Machine: AKS copies the Machine's provisioner label (the pool's
    node labels) and labels the Node with its pool."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return LABEL_PROVISIONER_NAME in labels and any(labels.get(key) for key in _POOL_LABELS)


def to_instance(
    pool: cs.AgentPool, provider_id: str | None, instance_types: InstanceTypeLookup | None
) -> Instance:
    vm_size = str(pool.vm_size or "")
    tags = dict(pool.tags or {})
    info = instance_types(vm_size) if instance_types is not None and vm_size else None
    capacity = info.capacity(pool.os_disk_size_gb) if info is not None else {}
    labels = dict(pool.node_labels or {})
    labels.setdefault(LABEL_INSTANCE_TYPE, vm_size)
    labels.setdefault(LABEL_AGENTPOOL, str(pool.name or ""))
    taints: list[Taint] = []
    for text in pool.node_taints or []:
        try:
            taints.append(Taint.parse(text))
        except InvalidRequestError:
            continue  # someone else's taint syntax; not ours to judge
    return Instance(
        name=str(pool.name or ""),
        machine_name=tags.get(TAG_MACHINE),
        provider_id=provider_id,
        instance_type=vm_size,
        state=instance_state(pool),
        capacity=capacity,
        allocatable=dict(capacity),
        labels=labels,
        taints=tuple(taints),
        tags=tags,
        created_at=_created_at(tags),
        image_id=str(pool.node_image_version) if pool.node_image_version else None,
    )
