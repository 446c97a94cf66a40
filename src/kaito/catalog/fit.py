"""Does a model fit an instance type? GPU count, per-GPU memory and total memory, per node.

Upstream v0.3 stored the node's total GPU memory in its SKU table and then multiplied it by the
GPU count again, so multi-GPU nodes looked N times bigger than they are. Here the catalog stores
memory per GPU and the node total is derived once. A model must fit on one node, whatever ``count``
is: ``count`` nodes are that many independent replicas, never one model sharded over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kaito.api.quantity import format_gib
from kaito.catalog.catalog import Catalog
from kaito.catalog.types import InstanceType, ModelPreset

Check = Literal["gpuCount", "perGPUMemory", "totalGPUMemory", "tuningMethod"]


@dataclass(frozen=True)
class FitProblem:
    """One reason a model does not fit; ``field`` is the Workspace field to change."""

    check: Check
    field: str
    message: str


# Said where a model is too big for one node: more nodes (resource.count) would not help.
ONE_NODE = (
    "multi-node inference is not supported (each of the resource.count replicas holds the whole model); "
    "choose a larger instance type"
)


def check_inference_fit(model: ModelPreset, instance: InstanceType) -> list[FitProblem]:
    """Problems serving ``model`` on one node of ``instance``; empty when it fits."""
    req = model.inference
    problems: list[FitProblem] = []
    if instance.gpu_count < req.gpu_count:
        problems.append(
            FitProblem(
                "gpuCount",
                "resource.instanceType",
                f"insufficient number of GPUs: {model.name} needs {req.gpu_count} GPU(s) on one node, "
                f"{instance.describe()} has {instance.gpu_count}; {ONE_NODE}",
            )
        )
    if instance.gpu_memory_bytes < req.per_gpu_memory_bytes:
        problems.append(
            FitProblem(
                "perGPUMemory",
                "resource.instanceType",
                f"insufficient per-GPU memory: {model.name} needs {format_gib(req.per_gpu_memory_bytes)} "
                f"per GPU, {instance.name} has {format_gib(instance.gpu_memory_bytes)}",
            )
        )
    if instance.total_gpu_memory_bytes < req.total_gpu_memory_bytes:
        problems.append(
            FitProblem(
                "totalGPUMemory",
                "resource.instanceType",
                f"insufficient total GPU memory: {model.name} needs "
                f"{format_gib(req.total_gpu_memory_bytes)} on one node, {instance.describe()} has "
                f"{format_gib(instance.total_gpu_memory_bytes)}; {ONE_NODE}",
            )
        )
    return problems


def check_tuning_fit(model: ModelPreset, instance: InstanceType, method: str) -> list[FitProblem]:
    """Problems fine-tuning ``model`` with ``method`` on one node of ``instance``."""
    requirements = model.tuning_method(method)
    if requirements is None:
        supported = sorted(model.tuning.methods) if model.tuning else []
        accepted = f"supported methods: {', '.join(supported)}" if supported else "it supports no tuning"
        return [
            FitProblem(
                "tuningMethod",
                "tuning.method",
                f"preset {model.name} does not support tuning method {method!r}; {accepted}",
            )
        ]
    problems: list[FitProblem] = []
    if instance.gpu_count < requirements.gpu_count:
        problems.append(
            FitProblem(
                "gpuCount",
                "resource.instanceType",
                f"insufficient number of GPUs: {method} tuning of {model.name} needs "
                f"{requirements.gpu_count} GPU(s), {instance.describe()} has {instance.gpu_count}",
            )
        )
    if instance.gpu_memory_bytes < requirements.per_gpu_memory_bytes:
        problems.append(
            FitProblem(
                "perGPUMemory",
                "resource.instanceType",
                f"insufficient per-GPU memory: {method} tuning of {model.name} needs "
                f"{format_gib(requirements.per_gpu_memory_bytes)} per GPU, {instance.name} has "
                f"{format_gib(instance.gpu_memory_bytes)}",
            )
        )
    return problems


def suggest_instance_types(
    catalog: Catalog,
    model: ModelPreset,
    *,
    method: str | None = None,
    cloud: str | None = None,
    limit: int = 3,
) -> list[str]:
    """The smallest instance types (by node GPU memory) that fit, optionally of one cloud."""
    fitting: list[InstanceType] = []
    for instance in catalog.instance_types:
        if cloud is not None and instance.cloud != cloud:
            continue
        if instance.cuda_compute_capability is None:
            # The preset images are CUDA builds: a non-NVIDIA size may be chosen, never recommended.
            continue
        problems = (
            check_tuning_fit(model, instance, method)
            if method is not None
            else check_inference_fit(model, instance)
        )
        if not problems:
            fitting.append(instance)
    fitting.sort(key=lambda t: (t.total_gpu_memory_bytes, t.gpu_count, t.name))
    return [t.name for t in fitting[:limit]]
