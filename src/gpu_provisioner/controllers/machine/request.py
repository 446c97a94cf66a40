"""Turn a Machine dict into the cloud layer's NodeRequest (upstream's newAgentPoolObject inputs)."""

from __future__ import annotations

from gpu_provisioner.cloudprovider.api import InvalidRequestError, NodeRequest, Taint, TaintEffect
from kaito.api.constants import (
    ANNOTATION_NODE_IMAGE_FAMILY,
    LABEL_INSTANCE_TYPE,
    LABEL_MACHINE_TYPE,
)
from kaito.api.quantity import QuantityError, parse_quantity
from kaito.api.views import as_machine
from kaito.runtime.objects import Obj, annotations_of, labels_of, name_of

_GIB = 1 << 30
_IMAGE_FAMILIES = {"azurelinux": "AzureLinux", "ubuntu": "Ubuntu"}


def instance_type_of(machine: Obj) -> str | None:
    """The first value of the ``node.kubernetes.io/instance-type In [...]`` requirement."""
    for req in as_machine(machine).get("spec", {}).get("requirements", []):
        values = req.get("values", [])
        if req["key"] == LABEL_INSTANCE_TYPE and req["operator"] == "In" and values:
            return values[0]
    return None


def requirement_labels(machine: Obj) -> dict[str, str]:
    """Single-value ``In`` requirements become labels, as karpenter's PopulateMachineDetails does."""
    out: dict[str, str] = {}
    for req in as_machine(machine).get("spec", {}).get("requirements", []):
        values = req.get("values", [])
        if req["operator"] == "In" and len(values) == 1:
            out[req["key"]] = values[0]
    return out


def expects_gpu(machine: Obj) -> bool:
    """Whether Initialized must wait for ``nvidia.com/gpu`` allocatable (upstream's gpu/cpu rule)."""
    machine_type = labels_of(machine).get(LABEL_MACHINE_TYPE)
    if machine_type:
        return machine_type == "gpu"
    return "standard_n" in (instance_type_of(machine) or "").lower()


def os_disk_gb(machine: Obj) -> int | None:
    storage = as_machine(machine).get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
    if storage is None:
        return None
    try:
        size = parse_quantity(storage)
    except QuantityError as err:
        raise InvalidRequestError(
            f"machine {name_of(machine)} has invalid storage request {storage!r}"
        ) from err
    # Bytes to GiB, rounded up; upstream's int32 cast of a byte count turned 120Gi into 0 (#233).
    return max(0, int(-(-size // _GIB)))


def taints_of(machine: Obj) -> tuple[Taint, ...]:
    out: list[Taint] = []
    for t in as_machine(machine).get("spec", {}).get("taints", []):
        try:
            out.append(
                Taint(key=str(t["key"]), value=str(t.get("value") or ""), effect=TaintEffect(t["effect"]))
            )
        except (KeyError, ValueError) as err:
            raise InvalidRequestError(f"machine {name_of(machine)} has an invalid taint {t!r}") from err
    return tuple(out)


def image_family_of(machine: Obj) -> str | None:
    raw = annotations_of(machine).get(ANNOTATION_NODE_IMAGE_FAMILY)
    if raw is None:
        return None
    # Anything unknown falls back to Ubuntu, as upstream #294 does.
    return _IMAGE_FAMILIES.get(raw.lower(), "Ubuntu")


def node_request_for(machine: Obj) -> NodeRequest:
    """Raises InvalidRequestError (final) for a Machine that can never be launched."""
    name = name_of(machine)
    instance_type = instance_type_of(machine)
    if not instance_type:
        raise InvalidRequestError(f"machine {name} spec has no requirement for instance type")
    labels = {**requirement_labels(machine), **labels_of(machine)}
    return NodeRequest(
        name=name,
        instance_type=instance_type,
        labels=labels,
        taints=taints_of(machine),
        os_disk_gb=os_disk_gb(machine),
        image_family=image_family_of(machine),
    )
