"""Hugging Face transformers backend: any causal LM from a local path, plus LoRA adapters."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from common.chat_template import ensure_chat_template
from common.logs import log_fields

from .adapters import AdapterSpec, discover_adapters
from .backend import BadRequest, Delta, SamplingParams
from .settings import Settings

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_END = object()


class _QueueStreamer(BaseStreamer):
    """Hands each newly generated token id to the event loop; skips the echoed prompt."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        self._loop = loop
        self._queue = queue
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token_id in value.reshape(-1).tolist():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, int(token_id))

    def end(self) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, _END)


class _Cancelled(StoppingCriteria):
    """Stops generate() when the client went away or a stop string was met."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> bool:
        return self._event.is_set()


class HFBackend:
    def __init__(self, settings: Settings) -> None:
        self.model_name = settings.model_name()
        path = settings.model_path
        if not Path(path).is_dir():
            raise FileNotFoundError(f"model path {path} does not exist")
        self.device = settings.device
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype: Any = "auto" if settings.dtype == "auto" else _DTYPES[settings.dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=settings.trust_remote_code
        )
        template = Path(settings.chat_template_file).read_text() if settings.chat_template_file else None
        ensure_chat_template(self.tokenizer, template)
        model: Any = AutoModelForCausalLM.from_pretrained(
            path,
            local_files_only=True,
            trust_remote_code=settings.trust_remote_code,
            dtype=dtype,
        )
        adapters = discover_adapters(settings.adapters_dir)
        if adapters:
            model = _apply_adapters(model, adapters, settings)
        self.model = model.to(self.device).eval()
        self.adapters = {a.name: a.strength for a in adapters}
        self.context_length = settings.max_model_len or _context_length(self.model.config, self.tokenizer)
        # One generate() at a time: concurrent calls on one model only fight over memory.
        self._lock = threading.Lock()
        log_fields(
            log,
            "model loaded",
            model=self.model_name,
            device=self.device,
            adapters=self.adapters,
            context_length=self.context_length,
        )

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        encoded = self.tokenizer(prompt, return_tensors="pt")
        input_ids = encoded["input_ids"].to(self.device)
        if input_ids.shape[-1] == 0:
            raise BadRequest("the prompt is empty", "prompt")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        kwargs = self._generate_kwargs(params)
        kwargs.update(
            input_ids=input_ids,
            attention_mask=encoded["attention_mask"].to(self.device),
            stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
        )
        # Beam search cannot stream (the best beam is known only at the end): its tokens are
        # queued in one go once generate() returns.
        streaming = int(kwargs.get("num_beams") or 1) == 1
        if streaming:
            kwargs["streamer"] = _QueueStreamer(loop, queue)

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    output = self.model.generate(**kwargs)
                if not streaming:
                    for token_id in output[0, input_ids.shape[-1] :].tolist():
                        loop.call_soon_threadsafe(queue.put_nowait, int(token_id))
                    loop.call_soon_threadsafe(queue.put_nowait, _END)
            except Exception as err:  # handed to the request, which turns it into a 4xx/5xx
                loop.call_soon_threadsafe(queue.put_nowait, err)
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        threading.Thread(target=run, name="generate", daemon=True).start()
        try:
            async for delta in self._decode(queue, params, cancel):
                yield delta
        finally:
            cancel.set()

    async def _decode(
        self, queue: asyncio.Queue[Any], params: SamplingParams, cancel: threading.Event
    ) -> AsyncIterator[Delta]:
        ids: list[int] = []
        emitted = ""
        # Text that might be the start of a stop string is held back until it is decided.
        hold = max((len(s) for s in params.stop), default=1) - 1
        while True:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, Exception):
                if isinstance(item, ValueError | TypeError):
                    raise BadRequest(f"generation failed: {item}") from item
                raise item
            ids.append(item)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
                yield Delta("", tokens=1)
                continue
            cut = _find_stop(text, params.stop)
            if cut is not None:
                cancel.set()
                yield Delta(text[len(emitted) : cut], tokens=1)
                # Drain what the generate thread still pushes so that it ends.
                while (await queue.get()) is not _END:
                    pass
                yield Delta("", finish_reason="stop")
                return
            safe = len(text) - hold
            if safe > len(emitted):
                yield Delta(text[len(emitted) : safe], tokens=1)
                emitted = text[:safe]
            else:
                yield Delta("", tokens=1)
        text = self.tokenizer.decode(ids, skip_special_tokens=True) if ids else ""
        if len(text) > len(emitted):
            yield Delta(text[len(emitted) :])
        finish = "length" if len(ids) >= params.max_new_tokens else "stop"
        yield Delta("", finish_reason=finish)

    def _generate_kwargs(self, params: SamplingParams) -> dict[str, Any]:
        do_sample = params.do_sample and params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "min_new_tokens": params.min_new_tokens,
            "do_sample": do_sample,
            "repetition_penalty": params.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id,
        }
        if do_sample:
            kwargs.update(temperature=params.temperature, top_k=params.top_k, top_p=params.top_p)
        else:
            # Greedy: unset the sampling knobs a model's generation_config may carry, which
            # would otherwise only produce warnings.
            kwargs.update(temperature=None, top_k=None, top_p=None)
        kwargs.update(params.extra)
        return kwargs


def _find_stop(text: str, stops: list[str]) -> int | None:
    cuts = [text.find(s) for s in stops if s and s in text]
    return min(cuts) if cuts else None


def _context_length(config: Any, tokenizer: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel (1e30); fall back to a safe size.
    return int(limit) if isinstance(limit, int) and limit < 1_000_000 else 2048


def _apply_adapters(model: Any, adapters: list[AdapterSpec], settings: Settings) -> Any:
    from peft import PeftModel

    first, rest = adapters[0], adapters[1:]
    peft_model: Any = PeftModel.from_pretrained(model, str(first.path), adapter_name=first.name)
    for spec in rest:
        peft_model.load_adapter(str(spec.path), adapter_name=spec.name)
    if len(adapters) == 1 and first.strength == 1.0:
        peft_model.set_adapter(first.name)
    else:
        peft_model.add_weighted_adapter(
            adapters=[a.name for a in adapters],
            weights=[a.strength for a in adapters],
            adapter_name="combined",
            combination_type=settings.combination_type,
        )
        peft_model.set_adapter("combined")
    log_fields(log, "adapters loaded", adapters={a.name: a.strength for a in adapters})
    if settings.merge_adapters:
        return peft_model.merge_and_unload()
    return peft_model
