"""The little a cloud provider needs to know about an instance type, and a pluggable lookup for it.

The full catalog lives elsewhere (kaito.catalog); providers only take a callable so that they can
be wired to it without importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InstanceTypeInfo:
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


InstanceTypeLookup = Callable[[str], InstanceTypeInfo | None]
"""Returns the instance type's facts, or None when it is unknown."""


class StaticInstanceTypes:
    """A fixed table usable as an :data:`InstanceTypeLookup`; case-insensitive on the name."""

    def __init__(self, types: Iterable[InstanceTypeInfo]) -> None:
        self._types: Mapping[str, InstanceTypeInfo] = {t.name.lower(): t for t in types}

    def __call__(self, name: str) -> InstanceTypeInfo | None:
        return self._types.get(name.lower())

    @classmethod
    def azure_defaults(cls) -> StaticInstanceTypes:
        """A handful of Azure GPU SKUs (KAITO's SKU table) so the local provider runs with no catalog."""
        return cls(
            [
                InstanceTypeInfo("Standard_NC6s_v3", 1, 16, cpu=6, memory_gib=112, gpu_model="V100"),
                InstanceTypeInfo("Standard_NC12s_v3", 2, 32, cpu=12, memory_gib=224, gpu_model="V100"),
                InstanceTypeInfo("Standard_NC24s_v3", 4, 64, cpu=24, memory_gib=448, gpu_model="V100"),
                InstanceTypeInfo("Standard_NC4as_T4_v3", 1, 16, cpu=4, memory_gib=28, gpu_model="T4"),
                InstanceTypeInfo("Standard_NC64as_T4_v3", 4, 64, cpu=64, memory_gib=440, gpu_model="T4"),
                InstanceTypeInfo("Standard_NV36ads_A10_v5", 1, 24, cpu=36, memory_gib=440, gpu_model="A10"),
                InstanceTypeInfo("Standard_NV72ads_A10_v5", 2, 48, cpu=72, memory_gib=880, gpu_model="A10"),
                InstanceTypeInfo("Standard_NC24ads_A100_v4", 1, 80, cpu=24, memory_gib=220, gpu_model="A100"),
                InstanceTypeInfo(
                    "Standard_NC48ads_A100_v4", 2, 160, cpu=48, memory_gib=440, gpu_model="A100"
                ),
                InstanceTypeInfo(
                    "Standard_NC96ads_A100_v4", 4, 320, cpu=96, memory_gib=880, gpu_model="A100"
                ),
                InstanceTypeInfo("Standard_ND96asr_v4", 8, 320, cpu=96, memory_gib=900, gpu_model="A100"),
                InstanceTypeInfo("Standard_NC40ads_H100_v5", 1, 94, cpu=40, memory_gib=320, gpu_model="H100"),
                InstanceTypeInfo(
                    "Standard_ND96isr_H100_v5", 8, 640, cpu=96, memory_gib=1900, gpu_model="H100"
                ),
                InstanceTypeInfo("Standard_D4s_v3", 0, 0, cpu=4, memory_gib=16),
            ]
        )
