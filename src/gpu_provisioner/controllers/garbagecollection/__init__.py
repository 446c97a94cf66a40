"""Garbage collection of leaked cloud instances, Machines without capacity, and orphan Nodes."""

from gpu_provisioner.controllers.garbagecollection.collector import GarbageCollector
from gpu_provisioner.controllers.garbagecollection.loop import run_periodically

__all__ = ["GarbageCollector", "run_periodically"]
