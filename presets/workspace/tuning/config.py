"""training_config.yaml: KAITO's sections and defaults as pydantic models.

Sections and field names follow upstream KAITO (ModelConfig, QuantizationConfig, LoraConfig,
TrainingArguments, DatasetConfig, DataCollator) so that existing ConfigMaps keep working.
Validation errors are reported as `Section.field: problem`.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

DType = Literal["auto", "float32", "float16", "bfloat16"]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    pretrained_model_name_or_path: str = "/workspace/tfs/weights"
    state_dict: dict[str, Any] | None = None
    cache_dir: str | None = None
    from_tf: bool = False
    force_download: bool = False
    resume_download: bool | None = None
    proxies: dict[str, str] | None = None
    output_loading_info: bool = False
    local_files_only: bool = False
    revision: str = "main"
    trust_remote_code: bool = False
    torch_dtype: DType | None = None
    device_map: str | dict[str, Any] | None = "auto"
    chat_template: str | None = None
    # v0.3.0 carried quantization here; still accepted and folded into QuantizationConfig.
    load_in_4bit: bool = False
    load_in_8bit: bool = False


class QuantizationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quant_method: Literal["bitsandbytes"] = "bitsandbytes"
    load_in_8bit: bool = False
    load_in_4bit: bool = False
    llm_int8_threshold: float = 6.0
    llm_int8_skip_modules: list[str] | None = None
    llm_int8_enable_fp32_cpu_offload: bool = False
    llm_int8_has_fp16_weight: bool = False
    bnb_4bit_compute_dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    bnb_4bit_quant_type: Literal["fp4", "nf4"] = "fp4"
    bnb_4bit_use_double_quant: bool = False

    @model_validator(mode="after")
    def _one_mode(self) -> QuantizationConfig:
        if self.load_in_4bit and self.load_in_8bit:
            raise ValueError("load_in_4bit and load_in_8bit cannot both be true")
        return self

    @property
    def enabled(self) -> bool:
        return self.load_in_4bit or self.load_in_8bit


def _default_target_modules() -> list[str] | None:
    raw = os.environ.get("DEFAULT_TARGET_MODULES", "").strip()
    return [m.strip() for m in raw.split(",") if m.strip()] or None


_PEFT_LORA_FIELDS: frozenset[str] | None = None


def _peft_lora_fields() -> frozenset[str]:
    global _PEFT_LORA_FIELDS
    if _PEFT_LORA_FIELDS is None:
        from peft import LoraConfig as PeftLoraConfig

        _PEFT_LORA_FIELDS = frozenset(f.name for f in dataclasses.fields(PeftLoraConfig))
    return _PEFT_LORA_FIELDS


class LoraConfig(BaseModel):
    """PEFT's LoraConfig; fields beyond the common ones pass through to PEFT if it knows them."""

    model_config = ConfigDict(extra="allow")

    r: int = Field(8, gt=0)
    lora_alpha: int = Field(8, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str | None = Field(default_factory=_default_target_modules)
    bias: Literal["none", "all", "lora_only"] = "none"
    init_lora_weights: bool | str = True
    layers_to_transform: list[int] | int | None = None
    layers_pattern: list[str] | str | None = None
    loftq_config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_to_peft(self) -> LoraConfig:
        unknown = sorted(set(self.model_extra or {}) - _peft_lora_fields())
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}: not options of PEFT's LoraConfig")
        return self

    def peft_kwargs(self) -> dict[str, Any]:
        kwargs = self.model_dump()
        kwargs.setdefault("task_type", "CAUSAL_LM")
        return kwargs


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_path: str | None = None
    dataset_extension: Literal["json", "jsonl", "csv", "parquet"] | None = None
    shuffle_dataset: bool = True
    shuffle_seed: int = 42
    context_column: str | None = None
    response_column: str = "text"
    messages_column: str | None = None
    train_test_split: float = Field(0.8, gt=0, le=1)

    @field_validator("dataset_path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError("must be a path relative to the data directory, without '..'")
        return value


class DataCollator(BaseModel):
    """Accepted for compatibility; TRL's collator pads causal-LM batches (mlm does not apply)."""

    model_config = ConfigDict(extra="forbid")

    mlm: bool = True
    mlm_probability: float = Field(0.15, ge=0, le=1)
    pad_to_multiple_of: int | None = Field(None, gt=0)


# KAITO's templates set these; the rest are TRL SFTConfig defaults.
TRAINING_DEFAULTS: dict[str, Any] = {
    "output_dir": "/mnt/results",
    "ddp_find_unused_parameters": False,
    "save_strategy": "no",
    "per_device_train_batch_size": 1,
    "report_to": "none",
}


class TrainingConfig(BaseModel):
    # Attribute names are snake_case; the YAML keeps KAITO's section names through aliases
    # (and errors are reported under those names).
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True)

    model: ModelConfig = Field(default_factory=lambda: ModelConfig(), alias="ModelConfig")
    quantization: QuantizationConfig = Field(
        default_factory=lambda: QuantizationConfig(), alias="QuantizationConfig"
    )
    lora: LoraConfig = Field(default_factory=lambda: LoraConfig(), alias="LoraConfig")
    training: dict[str, Any] = Field(default_factory=dict, alias="TrainingArguments")
    dataset: DatasetConfig = Field(default_factory=lambda: DatasetConfig(), alias="DatasetConfig")
    collator: DataCollator = Field(default_factory=lambda: DataCollator(), alias="DataCollator")

    @model_validator(mode="after")
    def _fold_legacy_quantization(self) -> TrainingConfig:
        mc, qc = self.model, self.quantization
        if mc.load_in_4bit or mc.load_in_8bit:
            qc.load_in_4bit = qc.load_in_4bit or mc.load_in_4bit
            qc.load_in_8bit = qc.load_in_8bit or mc.load_in_8bit
            if qc.load_in_4bit and qc.load_in_8bit:
                raise ValueError("QuantizationConfig: load_in_4bit and load_in_8bit cannot both be true")
        return self

    def training_arguments(self, output_dir: str | None = None) -> dict[str, Any]:
        args = {**TRAINING_DEFAULTS, **self.training}
        if "bf16" not in args and "fp16" not in args:
            # SFTConfig turns bf16 on by default, which fails on CPUs and pre-Ampere GPUs.
            args["bf16"] = _bf16_supported()
        if output_dir:
            args["output_dir"] = output_dir
        return args


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


WRAPPER_KEY = "training_config"


def parse_config(data: Any, source: str = "training_config.yaml") -> TrainingConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    if set(data) == {WRAPPER_KEY}:
        # KAITO's ConfigMaps (the shipped templates, and what the webhook requires) put the sections
        # under one top-level `training_config`; a bare mapping of sections is accepted too.
        data = data[WRAPPER_KEY] or {}
        source = f"{source}: {WRAPPER_KEY}"
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: must be a mapping of sections, got {type(data).__name__}")
    try:
        config = TrainingConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format(err)}") from None
    config.training = validate_training_arguments(config.training, source, construct=False)
    validate_training_arguments(config.training_arguments(), source)
    return config


def validate_training_arguments(args: dict[str, Any], source: str, construct: bool = True) -> dict[str, Any]:
    """Checks each TrainingArguments entry against SFTConfig's field types; returns them coerced.

    SFTConfig is a dataclass and accepts anything; a typo'd value would only fail deep inside
    training. Coercion also turns YAML strings like `1e-4` (not a float in YAML 1.1) into numbers.
    """
    from pydantic import TypeAdapter
    from trl import SFTConfig

    hints = typing.get_type_hints(SFTConfig)
    coerced: dict[str, Any] = {}
    for key, value in args.items():
        if key not in hints:
            raise ConfigError(f"{source}: TrainingArguments.{key}: unknown field (not an SFTConfig option)")
        try:
            adapter: TypeAdapter[Any] | None = TypeAdapter(hints[key])
        except Exception:  # an annotation pydantic cannot build a validator for: leave to SFTConfig
            adapter = None
        if adapter is not None:
            try:
                value = adapter.validate_python(value)
            except ValidationError as err:
                problem = err.errors()[0]["msg"] if err.errors() else str(err)
                raise ConfigError(f"{source}: TrainingArguments.{key}: {problem} (got {value!r})") from None
        coerced[key] = value
    if not construct:
        return coerced
    try:
        SFTConfig(**coerced)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{source}: TrainingArguments: {err}") from None
    return coerced


def load_config(path: str | Path) -> TrainingConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the training config {p}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{p.name}: not valid YAML: {err}") from None
    return parse_config(data, p.name)
