"""The karpenter Machine API (karpenter.sh/v1alpha5)."""

from kaito.api.machine.types import (
    KubeletConfiguration,
    Machine,
    MachineCondition,
    MachineList,
    MachineSpec,
    MachineStatus,
    MachineTemplateRef,
    NodeSelectorRequirement,
    ResourceRequirements,
    Taint,
)

__all__ = [
    "KubeletConfiguration",
    "Machine",
    "MachineCondition",
    "MachineList",
    "MachineSpec",
    "MachineStatus",
    "MachineTemplateRef",
    "NodeSelectorRequirement",
    "ResourceRequirements",
    "Taint",
]
