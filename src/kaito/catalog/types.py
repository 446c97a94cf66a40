"""The catalog's data model: what a preset model needs and what an instance type offers.

Everything is pydantic with ``extra="forbid"``: a typo in a catalog file is a start-up error
naming the file and field, not a silently ignored key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kaito.api.quantity import QuantityError, format_gib, parse_quantity, quantity_bytes

_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_REVISION_RE = re.compile(r"^[0-9a-f]{40}$")
_CAPABILITY_RE = re.compile(r"^(\d+)\.(\d+)$")


def _check_quantity(value: str) -> str:
    try:
        if parse_quantity(value) < 0:
            raise ValueError(f"{value!r} is negative")
    except QuantityError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _check_duration(value: str) -> str:
    match = _DURATION_RE.match(value)
    if not value or match is None or not any(match.groupdict().values()):
        raise ValueError(f"{value!r} is not a duration like 30m, 1h or 1h30m")
    return value


def duration_seconds(value: str) -> int:
    """Seconds in a ``1h30m``-style duration."""
    match = _DURATION_RE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _check_capability(value: str | None) -> str | None:
    if value is not None and not _CAPABILITY_RE.match(value):
        raise ValueError(f"{value!r} is not a CUDA compute capability like 8.0 or 8.6")
    return value


Size = Annotated[str, AfterValidator(_check_quantity)]
Duration = Annotated[str, AfterValidator(_check_duration)]
ComputeCapability = Annotated[str | None, AfterValidator(_check_capability)]
Cloud = Literal["azure", "aws"]
Runtime = Literal["transformers", "vllm"]
TuningMethodName = Literal["lora", "qlora"]


class _CatalogModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class InstanceType(_CatalogModel):
    """A cloud VM size with GPUs."""

    name: str = Field(min_length=1)
    cloud: Cloud
    gpu_count: int = Field(alias="gpuCount", ge=1)
    gpu_model: str = Field(alias="gpuModel", min_length=1)
    gpu_memory: Size = Field(alias="gpuMemory", description="Memory of one GPU.")
    # Chooses the inference runtime: vLLM needs compute capability 8.0 or more (kaito.catalog.runtime).
    cuda_compute_capability: ComputeCapability = Field(default=None, alias="cudaComputeCapability")

    @property
    def compute_capability(self) -> tuple[int, int] | None:
        """``(8, 6)`` for ``"8.6"``; None when the catalog does not say."""
        match = _CAPABILITY_RE.match(self.cuda_compute_capability or "")
        return (int(match.group(1)), int(match.group(2))) if match else None

    @property
    def gpu_memory_bytes(self) -> int:
        """Memory of one GPU in bytes."""
        return quantity_bytes(self.gpu_memory)

    @property
    def total_gpu_memory_bytes(self) -> int:
        """GPU memory of the whole node: GPUs x memory per GPU."""
        return self.gpu_count * self.gpu_memory_bytes

    def describe(self) -> str:
        """``Standard_NC6s_v3 (1x V100 16Gi)``."""
        return f"{self.name} ({self.gpu_count}x {self.gpu_model} {format_gib(self.gpu_memory_bytes)})"


class HuggingFaceSource(_CatalogModel):
    """Where the weights come from."""

    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    revision: str | None = Field(default=None, description="A 40-hex commit; required for public presets.")

    @model_validator(mode="after")
    def _revision_is_commit(self) -> HuggingFaceSource:
        if self.revision is not None and not _REVISION_RE.match(self.revision):
            raise ValueError(f"revision {self.revision!r} must be a 40-character commit hash")
        return self


class InferenceRequirements(_CatalogModel):
    """What serving the model needs."""

    gpu_count: int = Field(alias="gpuCount", ge=1)
    total_gpu_memory: Size = Field(alias="totalGPUMemory")
    per_gpu_memory: Size = Field(alias="perGPUMemory")
    disk_storage: Size = Field(alias="diskStorage")
    readiness_timeout: Duration | None = Field(default=None, alias="readinessTimeout")
    recommended_instance_types: list[str] = Field(alias="recommendedInstanceTypes", min_length=1)

    @property
    def total_gpu_memory_bytes(self) -> int:
        """Total GPU memory needed, in bytes."""
        return quantity_bytes(self.total_gpu_memory)

    @property
    def per_gpu_memory_bytes(self) -> int:
        """Memory needed on each GPU, in bytes."""
        return quantity_bytes(self.per_gpu_memory)


class TuningMethodRequirements(_CatalogModel):
    """What one tuning method needs."""

    per_gpu_memory: Size = Field(alias="perGPUMemory")
    gpu_count: int = Field(default=1, alias="gpuCount", ge=1)

    @property
    def per_gpu_memory_bytes(self) -> int:
        """Memory needed on each GPU, in bytes."""
        return quantity_bytes(self.per_gpu_memory)


class TuningRequirements(_CatalogModel):
    """What fine-tuning the model needs, per method."""

    disk_storage: Size = Field(alias="diskStorage")
    methods: dict[TuningMethodName, TuningMethodRequirements] = Field(min_length=1)
    recommended_instance_types: list[str] = Field(alias="recommendedInstanceTypes", min_length=1)
    # The LoRA target modules when the tuning config names none (the trainer's DEFAULT_TARGET_MODULES):
    # PEFT has no default for some architectures (phi-3's fused qkv_proj), and only q/v elsewhere.
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        alias="targetModules", min_length=1
    )


class ModelPreset(_CatalogModel):
    """A preset model."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=63)
    access_mode: Literal["public", "private"] = Field(default="public", alias="accessMode")
    # None: the weights are made when the image is built (the tiny test model), not fetched from a hub.
    hugging_face: HuggingFaceSource | None = Field(default=None, alias="huggingFace")
    weights_size: Size = Field(alias="weightsSize")
    runtime: Runtime
    image_tag: str = Field(alias="imageTag", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    image_name: str | None = Field(default=None, alias="imageName")
    deprecated: bool = False
    inference: InferenceRequirements
    tuning: TuningRequirements | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelPreset:
        if self.access_mode == "public" and self.hugging_face and self.hugging_face.revision is None:
            raise ValueError("huggingFace.revision is required for a public preset (pin a commit)")
        if self.inference.per_gpu_memory_bytes * self.inference.gpu_count < (
            self.inference.total_gpu_memory_bytes
        ):
            raise ValueError(
                "inference.perGPUMemory x inference.gpuCount must cover inference.totalGPUMemory"
            )
        # The weights are in the preset image, which the node unpacks onto the disk the Machine asks for.
        weights = quantity_bytes(self.weights_size)
        disks = [("inference.diskStorage", self.inference.disk_storage)]
        if self.tuning is not None:
            disks.append(("tuning.diskStorage", self.tuning.disk_storage))
        for field, disk in disks:
            if quantity_bytes(disk) < weights:
                raise ValueError(f"{field} {disk} cannot hold the weights (weightsSize {self.weights_size})")
        return self

    @property
    def supports_tuning(self) -> bool:
        """Whether any tuning method is supported."""
        return self.tuning is not None

    def tuning_method(self, method: str) -> TuningMethodRequirements | None:
        """The requirements of a tuning method, or None when the model does not support it."""
        if self.tuning is None:
            return None
        for name, requirements in self.tuning.methods.items():
            if name == method:
                return requirements
        return None


class CatalogDefaults(_CatalogModel):
    """Catalog-wide defaults."""

    readiness_timeout: Duration = Field(default="30m", alias="readinessTimeout")


class ModelsFile(_CatalogModel):
    """The shape of models.yaml."""

    defaults: CatalogDefaults = Field(default_factory=CatalogDefaults)
    models: list[ModelPreset] = Field(min_length=1)


class InstanceTypesFile(_CatalogModel):
    """The shape of instance_types.yaml."""

    instance_types: list[InstanceType] = Field(alias="instanceTypes", min_length=1)
