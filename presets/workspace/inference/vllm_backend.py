"""vLLM backend for the GPU images: the same HTTP surface as the transformers backend.

vLLM is imported lazily: it is only installed in the GPU images (requirements-gpu.txt).
LoRA adapters from the adapters directory are served through vLLM's LoRA support: all of them, each
at its strength, combined into one adapter (vLLM applies one adapter per request and cannot weight).
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from common.chat_template import ensure_chat_template
from common.logs import log_fields

from .adapters import combine, discover_adapters
from .backend import BadRequest, Delta, SamplingParams
from .settings import Settings

log = logging.getLogger(__name__)


def vllm_available() -> bool:
    # find_spec, not import: importing vllm takes seconds and initialises CUDA.
    return importlib.util.find_spec("vllm") is not None


class VLLMBackend:
    def __init__(self, settings: Settings) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        self.model_name = settings.model_name()
        adapters = discover_adapters(settings.adapters_dir)
        args = AsyncEngineArgs(
            model=settings.model_path,
            served_model_name=[self.model_name],
            dtype=settings.dtype,
            trust_remote_code=settings.trust_remote_code,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            max_model_len=settings.max_model_len,
            enable_lora=bool(adapters),
            **settings.vllm_engine_args,
        )
        self.engine: Any = AsyncLLMEngine.from_engine_args(args)
        self._lora: Any = None
        self.adapters = {a.name: a.strength for a in adapters}
        if adapters:
            from vllm.lora.request import LoRARequest

            # vLLM applies one LoRA per request, unweighted: every adapter goes in, each at its strength, as
            # one exactly combined adapter (unless a single one at full strength can be served as it is).
            path = adapters[0].path
            if len(adapters) > 1 or adapters[0].strength != 1.0:
                path = combine(adapters, Path(tempfile.mkdtemp(prefix="kaito-adapters-")))
            self._lora = LoRARequest("+".join(sorted(self.adapters)), 1, str(path))
        from transformers import AutoTokenizer

        self.tokenizer: Any = AutoTokenizer.from_pretrained(
            settings.model_path, trust_remote_code=settings.trust_remote_code
        )
        ensure_chat_template(self.tokenizer)
        self.context_length = int(settings.max_model_len or self.tokenizer.model_max_length)
        config = getattr(self.engine, "model_config", None)
        if config is not None and getattr(config, "max_model_len", None):
            self.context_length = int(config.max_model_len)
        log_fields(log, "vllm engine ready", model=self.model_name, context_length=self.context_length)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        from vllm import SamplingParams as VSamplingParams

        try:
            sampling = VSamplingParams(
                max_tokens=params.max_new_tokens,
                min_tokens=params.min_new_tokens,
                temperature=params.temperature if params.do_sample else 0.0,
                top_k=params.top_k if params.top_k > 0 else -1,
                top_p=params.top_p,
                repetition_penalty=params.repetition_penalty,
                stop=params.stop or None,
                seed=params.seed,
            )
        except (ValueError, TypeError) as err:
            raise BadRequest(str(err)) from err
        emitted, tokens = "", 0
        async for out in self.engine.generate(prompt, sampling, uuid.uuid4().hex, lora_request=self._lora):
            completion = out.outputs[0]
            text = completion.text
            new_tokens = len(completion.token_ids) - tokens
            tokens = len(completion.token_ids)
            yield Delta(text[len(emitted) :], tokens=new_tokens)
            emitted = text
            if out.finished:
                yield Delta("", finish_reason=completion.finish_reason or "stop")
