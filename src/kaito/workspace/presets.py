"""What the controller needs to know about a preset model to run it, and where that comes from.

The catalog (:mod:`kaito.catalog`) is the source of truth for presets and instance types; this module
narrows it to the workload facts the builders use, so builders and tests do not depend on the catalog's
full shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kaito.catalog.types import Runtime

# vLLM's kernels need Ampere or newer; older GPUs (V100 7.0, T4 7.5) serve with transformers.
VLLM_MIN_COMPUTE_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class PresetWorkload:
    """How to run one preset: image, GPUs, disk, runtime, entrypoints and health path.

    ``gpu_count`` is the GPUs one inference pod requests; every pod holds the whole model on one node
    (``resource.count`` pods are independent replicas). ``runtime`` is the catalog's serving runtime,
    which :func:`choose_runtime` may overrule for the GPU generation.
    """

    name: str
    tag: str
    gpu_count: int = 1
    tuning_gpu_count: int = 1
    disk_storage: str = "0"
    tuning_disk_storage: str = "0"
    runtime: Runtime = "transformers"
    health_path: str = "/health"
    inference_command: Sequence[str] = ("python", "-m", "inference")
    inference_args: Sequence[str] = ()
    inference_env: Mapping[str, str] = field(default_factory=dict)
    supports_tuning: bool = False
    tuning_entrypoint: str = "/workspace/tuning/fine_tuning.py"
    tuning_env: Mapping[str, str] = field(default_factory=dict)
    readiness_timeout_seconds: int = 1800
    image_name: str = ""

    def image(self, registry: str) -> str:
        """``<registry>/kaito-<preset>:<tag>``, upstream's image naming."""
        base = self.image_name or f"kaito-{self.name}"
        return f"{registry.rstrip('/')}/{base}:{self.tag}" if registry else f"{base}:{self.tag}"


@dataclass(frozen=True)
class InstanceTypeInfo:
    """The facts about a GPU instance type that sizing and Machine requirements need."""

    name: str
    gpu_count: int
    arch: str = "amd64"
    # (major, minor) CUDA compute capability of its GPUs; None when the catalog does not say.
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class RuntimeChoice:
    """The backend the preset server runs with, and why (for the RuntimeSelected Event and status)."""

    backend: Runtime
    reason: str

    def describe(self) -> str:
        return f"serving with {self.backend}: {self.reason}"


def _capability(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def choose_runtime(preset: PresetWorkload, instance: InstanceTypeInfo | None) -> RuntimeChoice:
    """The catalog's runtime where the GPUs can run it: vLLM falls back to transformers below compute
    capability 8.0. Nodes the catalog does not describe (own nodes, a type without a capability) keep the
    catalog's runtime: nothing known says they cannot."""
    catalog = f"catalog runtime {preset.runtime}"
    if instance is None:
        return RuntimeChoice(preset.runtime, f"{catalog}; the nodes' instance type is not in the catalog")
    version = instance.compute_capability
    if version is None:
        return RuntimeChoice(
            preset.runtime, f"{catalog}; the compute capability of {instance.name} is unknown"
        )
    has = f"{instance.name} has compute capability {_capability(version)}"
    if preset.runtime == "vllm" and version < VLLM_MIN_COMPUTE_CAPABILITY:
        return RuntimeChoice(
            "transformers",
            f"{catalog}, but {has} and vLLM needs {_capability(VLLM_MIN_COMPUTE_CAPABILITY)} or more",
        )
    return RuntimeChoice(preset.runtime, f"{catalog}, {has}")


class PresetSource(Protocol):
    """Looks up presets and instance types; :class:`StaticPresets` in tests, the catalog in the binary."""

    def preset(self, name: str) -> PresetWorkload | None: ...

    def instance_type(self, name: str) -> InstanceTypeInfo | None: ...


class StaticPresets:
    """A fixed table of presets and instance types."""

    def __init__(
        self, presets: Sequence[PresetWorkload], instance_types: Sequence[InstanceTypeInfo] = ()
    ) -> None:
        self._presets = {p.name: p for p in presets}
        self._types = {t.name.lower(): t for t in instance_types}

    def preset(self, name: str) -> PresetWorkload | None:
        return self._presets.get(name)

    def instance_type(self, name: str) -> InstanceTypeInfo | None:
        return self._types.get(name.lower())
