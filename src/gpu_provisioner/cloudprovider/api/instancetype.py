"""The little a cloud provider needs to know about an instance type, and a pluggable lookup for it.

KAITO's catalog (kaito.catalog, presets/catalog/instance_types.yaml) is the one table of instance types;
providers only take a callable (:func:`gpu_provisioner.instancetypes.catalog_instance_types` in the
binary) so that they can be wired to it without importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InstanceShape:
    """What a node of an instance type looks like to the scheduler: its GPUs and its capacity.

    The catalog knows GPUs only; CPU and memory are round placeholders nothing schedules on."""

    name: str
    gpu_count: int
    # Total over all GPUs of the node, GiB.
    gpu_memory_gib: int
    cpu: int = 8
    memory_gib: int = 64
    gpu_model: str | None = None
    gpu_resource: str = "nvidia.com/gpu"

    def capacity(self, os_disk_gb: int | None = None) -> dict[str, str]:
        """Node capacity as Kubernetes quantities. Ephemeral storage follows the OS disk."""
        cap = {
            "cpu": str(self.cpu),
            "memory": f"{self.memory_gib}Gi",
            "pods": "110",
            "ephemeral-storage": f"{os_disk_gb or 128}Gi",
        }
        if self.gpu_count:
            cap[self.gpu_resource] = str(self.gpu_count)
        return cap


InstanceTypeLookup = Callable[[str], InstanceShape | None]
"""Returns the instance type's shape, or None when it is unknown."""
