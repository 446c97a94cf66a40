"""What the controller needs to know about a preset model to run it, and where that comes from.

The catalog (:mod:`kaito.catalog`) is the source of truth for presets and instance types; this module
narrows it to the workload facts the builders use, so builders and tests do not depend on the catalog's
full shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PresetWorkload:
    """How to run one preset: image, GPUs, disk, entrypoints and health path.

    ``gpu_count`` is the GPUs one inference pod requests. A ``distributed`` preset spreads over
    ``resource.count`` nodes with torchrun and therefore runs as a StatefulSet.
    """

    name: str
    tag: str
    gpu_count: int = 1
    tuning_gpu_count: int = 1
    disk_storage: str = "0"
    tuning_disk_storage: str = "0"
    distributed: bool = False
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
