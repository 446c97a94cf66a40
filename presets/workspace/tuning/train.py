"""Runs one LoRA/QLoRA fine-tuning: config + data in, adapter + sentinel out."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.chat_template import ensure_chat_template
from common.logs import log_fields

from .config import TrainingConfig
from .data import prepare
from .errors import ConfigError
from .progress import ProgressCallback

log = logging.getLogger(__name__)

# The pusher sidecar waits for this file; it is written last, after the adapter.
SENTINEL = "fine_tuning_completed.txt"
# Written instead when the run fails, so that the pusher stops waiting.
FAILED_SENTINEL = "fine_tuning_failed.txt"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class RunPaths:
    data_dir: str = "/mnt/data"
    output_dir: str | None = None  # overrides TrainingArguments.output_dir
    model_path: str | None = None  # overrides ModelConfig.pretrained_model_name_or_path
    metrics_port: int | None = None


def _quantization(config: TrainingConfig) -> Any:
    qc = config.quantization
    if not qc.enabled:
        return None
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "QuantizationConfig.load_in_4bit/load_in_8bit (QLoRA) needs an NVIDIA GPU, and none is visible; "
            "use the LoRA template (load_in_4bit: false) on CPU"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "QuantizationConfig asks for bitsandbytes, which this image does not include"
        ) from None
    from transformers import BitsAndBytesConfig

    fields = qc.model_dump(exclude={"quant_method"})
    return BitsAndBytesConfig(**fields)


def run(config: TrainingConfig, paths: RunPaths) -> Path:
    import torch
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    mc = config.model
    model_path = paths.model_path or mc.pretrained_model_name_or_path
    args = config.training_arguments(paths.output_dir)
    output_dir = Path(args["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    # Stale sentinels from an earlier run would release the pusher early.
    (output_dir / SENTINEL).unlink(missing_ok=True)
    (output_dir / FAILED_SENTINEL).unlink(missing_ok=True)

    data = prepare(paths.data_dir, config.dataset)
    if data.kind == "text":
        args.setdefault("dataset_text_field", "text")
    if config.collator.pad_to_multiple_of:
        args.setdefault("pad_to_multiple_of", config.collator.pad_to_multiple_of)
    if data.eval is None:
        args.setdefault("eval_strategy", "no")

    load_kwargs: dict[str, Any] = {
        "cache_dir": mc.cache_dir,
        "revision": mc.revision,
        "trust_remote_code": mc.trust_remote_code,
        "local_files_only": mc.local_files_only or Path(model_path).is_dir(),
        "force_download": mc.force_download,
        "proxies": mc.proxies,
    }
    tokenizer: Any = AutoTokenizer.from_pretrained(model_path, **load_kwargs)
    ensure_chat_template(tokenizer, mc.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    lora_kwargs = config.lora.peft_kwargs()
    if not lora_kwargs.get("target_modules"):
        _require_peft_default(model_path, load_kwargs)
    quantization = _quantization(config)
    cuda = torch.cuda.is_available()
    device_map = mc.device_map if cuda else None  # on CPU it would only add accelerate hooks
    if cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under `accelerate launch --num_processes=N` each process trains a full replica on
        # its own GPU (DDP); "auto" would spread one copy over all GPUs in every process.
        device_map = {"": local_rank()}
    model: Any = AutoModelForCausalLM.from_pretrained(
        model_path,
        dtype=mc.torch_dtype or "auto",
        device_map=device_map,
        quantization_config=quantization,
        state_dict=mc.state_dict,
        **load_kwargs,
    )
    log_fields(log, "base model loaded", **_loaded(model))
    if quantization is not None:
        model = prepare_model_for_kbit_training(model)

    lora = LoraConfig(**lora_kwargs)
    callback = ProgressCallback(str(output_dir), paths.metrics_port)
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**args),
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[callback],
    )
    log_fields(log, "trainable parameters", **_param_counts(trainer.model))
    result = trainer.train()
    if data.eval is not None:
        trainer.evaluate()
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        missing = [f for f in ADAPTER_FILES if not (output_dir / f).is_file()]
        if missing:
            raise RuntimeError(f"the trainer did not write {', '.join(missing)} to {output_dir}")
        callback.completed.set(1)
        (output_dir / SENTINEL).write_text(
            f"Fine-Tuning completed; training loss {result.training_loss:.6f}\n"
        )
        log_fields(
            log,
            "fine-tuning completed",
            output_dir=str(output_dir),
            train_loss=result.training_loss,
            steps=result.global_step,
        )
    return output_dir


def _require_peft_default(model_path: str, load_kwargs: dict[str, Any]) -> None:
    """Refuses, before the weights load, a run with no target modules for an architecture PEFT has no
    default for (phi-3's fused projections): PEFT's own error comes only after minutes of loading."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_path, **load_kwargs).model_type
    if model_type not in defaults:
        raise ConfigError(
            f"LoraConfig.target_modules is not set and PEFT has no default for {model_type} models: "
            "name the modules to adapt in the tuning config (for example target_modules: all-linear)"
        )


def _loaded(model: Any) -> dict[str, Any]:
    """Where the base model landed and how it is stored, so that a QLoRA run that silently fell back
    to full precision, or a GPU run that landed on the CPU, shows in the log."""
    if getattr(model, "is_loaded_in_4bit", False):
        quantized = "4bit"
    elif getattr(model, "is_loaded_in_8bit", False):
        quantized = "8bit"
    else:
        quantized = "none"
    return {
        "quantized": quantized,
        "device": str(next(model.parameters()).device),
        "dtype": str(model.dtype).removeprefix("torch."),
        "footprint_bytes": int(model.get_memory_footprint()),
    }


def _param_counts(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total}


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))
