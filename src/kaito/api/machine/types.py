"""The karpenter-core Machine (karpenter.sh/v1alpha5) that the workspace controller creates and the
gpu-provisioner turns into a cloud GPU node. Cluster-scoped.

Field names follow karpenter-core v1alpha5 exactly (including ``providerID`` and ``cpuCFSQuota``) so
that manifests written for upstream apply unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kaito.api.base import KubeModel, ObjectMeta, Time
from kaito.api.constants import (
    LABEL_INSTANCE_TYPE,
    MACHINE_API_VERSION,
    MACHINE_CONDITION_READY,
    MACHINE_KIND,
)
from kaito.api.quantity import Quantity

ConditionStatus = Literal["True", "False", "Unknown"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
NodeSelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]


class NodeSelectorRequirement(KubeModel):
    """A requirement on node labels, e.g. ``node.kubernetes.io/instance-type In [Standard_NC6s_v3]``."""

    key: str = Field(description="The label key the requirement applies to.", max_length=317)
    operator: NodeSelectorOperator = Field(description="In, NotIn, Exists, DoesNotExist, Gt or Lt.")
    values: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None,
        max_length=100,
        description="Values for In/NotIn (one or more), Gt/Lt (exactly one integer) or none for Exists.",
    )


class Taint(KubeModel):
    """A node taint."""

    key: str = Field(description="The taint key.", max_length=317)
    value: str | None = Field(default=None, description="The taint value.", max_length=63)
    effect: TaintEffect = Field(description="NoSchedule, PreferNoSchedule or NoExecute.")
    time_added: Time | None = Field(default=None, description="When a NoExecute taint was added.")


class ResourceRequirements(KubeModel):
    """Resources the node must provide."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="Minimum resources, e.g. storage: 120Gi becomes the OS disk size of the node.",
    )


class KubeletConfiguration(KubeModel):
    """Kubelet settings for the node (not sent to the cloud by the gpu-provisioner)."""

    cluster_dns: list[str] | None = Field(
        default=None, alias="clusterDNS", description="DNS server IPs for pods on the node."
    )
    container_runtime: str | None = Field(default=None, description="Container runtime, e.g. containerd.")
    max_pods: int | None = Field(default=None, ge=0, description="Maximum number of pods on the node.")
    pods_per_core: int | None = Field(default=None, ge=0, description="Pods allowed per CPU core.")
    system_reserved: dict[str, Quantity] | None = Field(
        default=None, description="Resources reserved for OS system daemons."
    )
    kube_reserved: dict[str, Quantity] | None = Field(
        default=None, description="Resources reserved for Kubernetes system daemons."
    )
    eviction_hard: dict[str, str] | None = Field(default=None, description="Hard eviction thresholds.")
    eviction_soft: dict[str, str] | None = Field(default=None, description="Soft eviction thresholds.")
    eviction_soft_grace_period: dict[str, str] | None = Field(
        default=None, description="Grace periods (durations) for the soft eviction thresholds."
    )
    eviction_max_pod_grace_period: int | None = Field(
        default=None, description="Maximum grace period in seconds when evicting pods for soft thresholds."
    )
    image_gc_high_threshold_percent: int | None = Field(
        default=None,
        alias="imageGCHighThresholdPercent",
        ge=0,
        le=100,
        description="Disk usage percent above which image garbage collection always runs.",
    )
    image_gc_low_threshold_percent: int | None = Field(
        default=None,
        alias="imageGCLowThresholdPercent",
        ge=0,
        le=100,
        description="Disk usage percent below which image garbage collection never runs.",
    )
    cpu_cfs_quota: bool | None = Field(
        default=None, alias="cpuCFSQuota", description="Enforce CPU CFS quota for containers with CPU limits."
    )


class MachineTemplateRef(KubeModel):
    """A reference to a provider-specific template for the machine."""

    kind: str | None = Field(default=None, description="Kind of the referent.")
    name: str = Field(min_length=1, description="Name of the referent.")
    api_version: str | None = Field(default=None, description="API version of the referent.")


class MachineSpec(KubeModel):
    """What node is wanted."""

    taints: list[Taint] | None = Field(default=None, description="Taints the node is created with.")
    startup_taints: list[Taint] | None = Field(
        default=None,
        description="Taints expected on the node at start-up that some daemon removes; the machine is not "
        "Initialized while they remain.",
    )
    requirements: list[NodeSelectorRequirement] | None = Field(
        default=None,
        max_length=100,
        description="Label requirements the node must satisfy; node.kubernetes.io/instance-type In [...] "
        "picks the VM size.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Resources the node must provide; requests.storage sets the OS disk size."
    )
    kubelet: KubeletConfiguration | None = Field(default=None, description="Kubelet settings for the node.")
    machine_template_ref: MachineTemplateRef | None = Field(
        default=None, description="Provider-specific template for the machine."
    )


class MachineCondition(KubeModel):
    """A knative-style condition: Launched, Registered, Initialized and the derived Ready."""

    type: str = Field(description="MachineLaunched, MachineRegistered, MachineInitialized, Ready, ...")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    severity: str | None = Field(default=None, description="Error, Warning or Info (empty means Error).")
    last_transition_time: Time | None = Field(default=None, description="When the status last changed.")
    reason: str | None = Field(default=None, description="Machine-readable reason for the status.")
    message: str | None = Field(default=None, description="Human-readable explanation of the status.")


class MachineStatus(KubeModel):
    """What the provisioner observed."""

    node_name: str | None = Field(default=None, description="Name of the Node backed by this machine.")
    provider_id: str | None = Field(
        default=None, alias="providerID", description="Cloud provider ID of the instance."
    )
    capacity: dict[str, Quantity] | None = Field(default=None, description="Resources of the node.")
    allocatable: dict[str, Quantity] | None = Field(
        default=None, description="Resources of the node available to pods."
    )
    conditions: list[MachineCondition] | None = Field(
        default=None,
        description="MachineLaunched, MachineRegistered, MachineInitialized and Ready.",
        # A map keyed by type lets server-side apply merge one condition without clobbering others.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class Machine(KubeModel):
    """A Machine asks for one node. The gpu-provisioner creates the cloud instance (for Azure, an AKS
    agent pool named after the machine) and reports it back in status."""

    api_version: str = Field(default=MACHINE_API_VERSION)
    kind: str = Field(default=MACHINE_KIND)
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MachineSpec = Field(default_factory=MachineSpec, description="What node is wanted.")
    status: MachineStatus | None = Field(default=None, description="What the provisioner observed.")

    @property
    def name(self) -> str:
        """metadata.name, or '' when unset."""
        return self.metadata.name or ""

    @property
    def instance_type(self) -> str | None:
        """The first value of the node.kubernetes.io/instance-type requirement, if any."""
        for requirement in self.spec.requirements or []:
            if requirement.key == LABEL_INSTANCE_TYPE and requirement.operator == "In" and requirement.values:
                return requirement.values[0]
        return None

    def condition(self, condition_type: str) -> MachineCondition | None:
        """The condition of the given type, or None."""
        for condition in (self.status.conditions if self.status else None) or []:
            if condition.type == condition_type:
                return condition
        return None

    @property
    def is_ready(self) -> bool:
        """Whether the Ready condition is True."""
        ready = self.condition(MACHINE_CONDITION_READY)
        return ready is not None and ready.status == "True"


class MachineList(KubeModel):
    """A list of Machines as returned by the apiserver."""

    api_version: str = Field(default=MACHINE_API_VERSION)
    kind: str = Field(default="MachineList")
    metadata: dict[str, Any] | None = None
    items: list[Machine] = Field(default_factory=list)
