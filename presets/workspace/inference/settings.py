"""Server settings from flags, each defaulting to an environment variable.

Paths default to where the preset images and the workspace controller put things, and can be
pointed elsewhere (tests use temporary directories).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    model_path: str = "/workspace/weights"
    served_model_name: str = ""
    adapters_dir: str = "/mnt/adapter"
    host: str = "0.0.0.0"
    port: int = 5000
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    max_model_len: int | None = None
    trust_remote_code: bool = False
    merge_adapters: bool = False
    combination_type: str = "svd"
    chat_template_file: str | None = None
    log_level: str = "INFO"
    # vLLM only; KAITO's default leaves headroom for the CUDA context and activations.
    gpu_memory_utilization: float = 0.84
    # Further vLLM engine arguments (KAITO's inference_config.yaml `vllm:` section), as JSON.
    vllm_engine_args: dict[str, Any] = field(default_factory=dict)

    def model_name(self) -> str:
        return self.served_model_name or os.path.basename(os.path.normpath(self.model_path))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_settings(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="inference", description="KAITO preset inference server")
    parser.add_argument("--model-path", default=env("MODEL_PATH", Settings.model_path))
    parser.add_argument("--served-model-name", default=env("SERVED_MODEL_NAME", ""))
    parser.add_argument("--adapters-dir", default=env("ADAPTERS_DIR", Settings.adapters_dir))
    parser.add_argument("--host", default=env("HOST", Settings.host))
    parser.add_argument("--port", type=int, default=int(env("PORT", str(Settings.port))))
    parser.add_argument(
        "--backend", choices=["auto", "transformers", "vllm"], default=env("INFERENCE_BACKEND", "auto")
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=env("DEVICE", "auto"))
    parser.add_argument(
        "--dtype", choices=["auto", "float32", "float16", "bfloat16"], default=env("TORCH_DTYPE", "auto")
    )
    max_len = env("MAX_MODEL_LEN")
    parser.add_argument("--max-model-len", type=int, default=int(max_len) if max_len else None)
    parser.add_argument(
        "--trust-remote-code", action="store_true", default=_env_bool("TRUST_REMOTE_CODE", False)
    )
    parser.add_argument("--merge-adapters", action="store_true", default=_env_bool("MERGE_ADAPTERS", False))
    parser.add_argument(
        "--combination-type",
        choices=["svd", "linear", "cat"],
        default=env("ADAPTER_COMBINATION_TYPE", Settings.combination_type),
    )
    parser.add_argument("--chat-template-file", default=env("CHAT_TEMPLATE_FILE"))
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=float(env("GPU_MEMORY_UTILIZATION", str(Settings.gpu_memory_utilization))),
    )
    parser.add_argument(
        "--vllm-engine-args",
        default=env("VLLM_ENGINE_ARGS", "{}"),
        help="JSON object of extra vLLM engine arguments",
    )
    ns = parser.parse_args(argv)
    try:
        engine_args = json.loads(ns.vllm_engine_args)
    except json.JSONDecodeError as err:
        parser.error(f"--vllm-engine-args is not JSON: {err}")
    if not isinstance(engine_args, dict):
        parser.error("--vllm-engine-args must be a JSON object")
    return Settings(
        model_path=ns.model_path,
        served_model_name=ns.served_model_name,
        adapters_dir=ns.adapters_dir,
        host=ns.host,
        port=ns.port,
        backend=ns.backend,
        device=ns.device,
        dtype=ns.dtype,
        max_model_len=ns.max_model_len,
        trust_remote_code=ns.trust_remote_code,
        merge_adapters=ns.merge_adapters,
        combination_type=ns.combination_type,
        chat_template_file=ns.chat_template_file,
        log_level=ns.log_level,
        gpu_memory_utilization=ns.gpu_memory_utilization,
        vllm_engine_args={k.replace("-", "_"): v for k, v in engine_args.items()},
    )
