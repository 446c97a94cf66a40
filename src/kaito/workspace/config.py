"""Settings of the workspace controller that flags and tests choose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Where `make images` pushes by default (the local cluster's loopback registry, e2e/images); a cluster
# elsewhere sets --preset-registry to where it pushed them (REGISTRY=<host> pushes to <host>/kaito).
DEFAULT_REGISTRY = "127.0.0.1:5001/kaito"
DEFAULT_RELEASE_NAMESPACE = "kaito-workspace"


@dataclass(frozen=True)
class ControllerConfig:
    """``extra_tolerations`` lets simulated clusters (kwok nodes carry their own taint) run the pods."""

    preset_registry: str = DEFAULT_REGISTRY
    release_namespace: str = DEFAULT_RELEASE_NAMESPACE
    extra_tolerations: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    # The tuning Job's downloader/pusher image; empty: <preset_registry>/kaito-datamovers:<tag>.
    datamovers_image: str = ""
    # The operator's egress allow-list entries (kaito.egress), handed to the data movers as EGRESS_ALLOW.
    egress_allow: Sequence[str] = ()
    # Registries (host:port) the pusher speaks plain HTTP to, as docker's insecure-registries.
    insecure_registries: Sequence[str] = ()
    # Honour kaito.sh/enablelb: a Workspace author could otherwise expose a model to the internet (and
    # bill a cloud load balancer) with one annotation. Off unless the operator opts in.
    allow_public_load_balancers: bool = False
    # Safety nets only: progress is driven by watch events; these bound how long a lost event can stall.
    provisioning_requeue_seconds: float = 60.0
    deleting_requeue_seconds: float = 30.0
    # A reconcile mostly waits on the apiserver, and a burst's Service applies wait seconds for ClusterIP
    # allocation, which the apiserver serializes: 16 workers held the bench's 200 Deployments back behind
    # them (ratio ~1.4), 32 do not (~1.1) for ~3 MiB more.
    max_concurrent_reconciles: int = 32
