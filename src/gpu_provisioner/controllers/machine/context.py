"""What the lifecycle stages share during one reconcile of one Machine."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from gpu_provisioner.cloudprovider.api import CloudProvider
from gpu_provisioner.controllers.kube.ports import KubeOps
from gpu_provisioner.controllers.machine.backoff import KeyedBackoff
from gpu_provisioner.controllers.machine.settings import LifecycleSettings
from gpu_provisioner.controllers.operations import OperationTracker
from gpu_provisioner.metrics import ProvisionerMetrics
from kaito.runtime.objects import Obj, annotations_of, labels_of, name_of


@dataclass
class Deps:
    """Long-lived collaborators of the Machine controllers."""

    kube: KubeOps
    provider: CloudProvider
    tracker: OperationTracker
    metrics: ProvisionerMetrics
    settings: LifecycleSettings
    backoff: KeyedBackoff = field(init=False)
    # Why the provisioner itself deleted a Machine (liveness, garbage_collected), for the
    # terminated metric once its finalizer is released; absent means a user or owner deleted it.
    termination_reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backoff = KeyedBackoff(self.settings.retry_base, self.settings.retry_max)


@dataclass
class Pass:
    """One reconcile: the Machine as read, the status and metadata being built, the requeue wanted."""

    machine: Obj
    now: datetime
    status: dict[str, Any] = field(init=False)
    labels: dict[str, str] = field(init=False)
    annotations: dict[str, str] = field(init=False)
    requeue_after: float | None = None
    deleted: bool = False

    def __post_init__(self) -> None:
        self.status = copy.deepcopy(self.machine.get("status") or {})
        self.labels = dict(labels_of(self.machine))
        self.annotations = dict(annotations_of(self.machine))

    @property
    def name(self) -> str:
        return name_of(self.machine)

    @property
    def log(self) -> Any:
        return structlog.get_logger("gpu_provisioner.machine").bind(machine=self.name)

    def requeue(self, seconds: float) -> None:
        """Keeps the soonest of the requeues the stages asked for."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds
