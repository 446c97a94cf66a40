"""The provisioner's own metric families, on the Manager's registry next to the runtime's.

Names follow karpenter-core's ``karpenter_machines_*`` so existing dashboards keep working; the GC
and retry families are ours. Cloud call duration/errors are recorded by the cloud layer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ProvisionerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, provider: str = "") -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.provider = provider
        self.machines_created = Counter(
            "karpenter_machines_created",
            "Machines whose cloud capacity was launched.",
            ["provider"],
            registry=r,
        )
        self.machines_registered = Counter(
            "karpenter_machines_registered",
            "Machines whose Node joined the cluster.",
            ["provider"],
            registry=r,
        )
        self.machines_initialized = Counter(
            "karpenter_machines_initialized",
            "Machines whose Node became Ready with its resources registered.",
            ["provider"],
            registry=r,
        )
        self.machines_terminated = Counter(
            "karpenter_machines_terminated",
            "Machines whose capacity was released, by reason (deleted, liveness, garbage_collected).",
            ["provider", "reason"],
            registry=r,
        )
        self.nodes_terminated = Counter(
            "karpenter_nodes_terminated",
            "Nodes deleted by the provisioner.",
            ["provider"],
            registry=r,
        )
        self.launch_failures = Counter(
            "gpu_provisioner_launch_failures",
            "Failed launch attempts by error class; final errors are not retried.",
            ["provider", "error", "final"],
            registry=r,
        )
        self.operation_retries = Counter(
            "gpu_provisioner_operation_retries",
            "Requeues of a cloud operation (create, delete) after a retryable failure.",
            ["provider", "operation"],
            registry=r,
        )
        self.gc_deletions = Counter(
            "gpu_provisioner_garbage_collected",
            "Objects deleted by garbage collection, by what was collected (instance, machine, node).",
            ["provider", "kind"],
            registry=r,
        )

    def terminated(self, reason: str) -> None:
        self.machines_terminated.labels(self.provider, reason).inc()

    def gc(self, kind: str) -> None:
        self.gc_deletions.labels(self.provider, kind).inc()

    def retry(self, operation: str) -> None:
        self.operation_retries.labels(self.provider, operation).inc()
