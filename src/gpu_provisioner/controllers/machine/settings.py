"""Tunables of the Machine controllers (set from the command line in gpu_provisioner.options)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    # A launched Machine whose Node has not registered within this is deleted (upstream: 15 min).
    registration_ttl: float = 900.0
    # Bound on one create or delete call including its wait for the cloud.
    operation_timeout: float = 1800.0
    # How often an in-flight operation or a missing Node is looked at again.
    poll_interval: float = 5.0
    retry_base: float = 2.0
    retry_max: float = 300.0
    # Consecutive retryable launch failures before the Machine is marked failed (with the defaults
    # above, about two hours of trying). Deletes are never given up: that would leak capacity.
    max_launch_retries: int = 30
    # GC leaves cloud instances, Machines and Nodes younger than this alone (upstream: 30 s).
    gc_grace_period: float = 60.0
    gc_interval: float = 60.0
