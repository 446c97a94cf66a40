"""What the cloud reports back about one Machine's node."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gpu_provisioner.cloudprovider.api.request import Taint


class InstanceState(enum.StrEnum):
    CREATING = "Creating"
    RUNNING = "Running"
    DELETING = "Deleting"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Instance:
    """A cloud node as the controllers need it.

    ``name`` is the cloud's name for it (the AKS agent pool, or the local Node's pool name);
    ``machine_name`` is the Machine it was made for, read back from the cloud's own tags so that
    garbage collection can match instances to Machines after a restart. ``provider_id`` is the
    Node's ``spec.providerID``; it is None only while the instance is not running yet.
    Quantities are Kubernetes quantity strings ("1", "80Gi").
    """

    name: str
    machine_name: str | None
    provider_id: str | None
    instance_type: str
    state: InstanceState
    capacity: Mapping[str, str] = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    image_id: str | None = None
