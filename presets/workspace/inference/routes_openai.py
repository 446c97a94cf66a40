"""OpenAI-compatible endpoints: /v1/models, /v1/chat/completions and /v1/completions.

Streams are server-sent events ending in `data: [DONE]`, as OpenAI's SDKs expect.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from .backend import BadRequest, Delta, SamplingParams
from .schemas import ChatCompletionRequest, CompletionRequest
from .service import Service

log = logging.getLogger(__name__)

Chunk = Callable[[Delta], dict[str, Any]]
Usage = Callable[[int], dict[str, Any]]


def openai_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict[str, Any]:
        b = service.backend()
        entry = {
            "id": b.model_name,
            "object": "model",
            "created": 0,
            "owned_by": "kaito",
            "max_model_len": b.context_length,
        }
        # The adapters are applied to every request (weighted and combined), as vLLM lists LoRA modules:
        # each with its base as parent; asking for one by name serves the same combined model.
        adapters = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "kaito",
                "parent": b.model_name,
                "root": b.model_name,
                "strength": strength,
                "max_model_len": b.context_length,
            }
            for name, strength in sorted(b.adapters.items())
        ]
        return {"object": "list", "data": [entry, *adapters]}

    @router.post("/chat/completions", response_model=None)
    async def chat_completions(req: ChatCompletionRequest) -> dict[str, Any] | StreamingResponse:
        b = service.check_model(req.model)
        prompt = service.render(b, req.messages)
        param = "max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens"
        requested = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        prompt_tokens, new_tokens = service.budget(b, prompt, requested, param)
        params = _sampling(req, new_tokens)
        deltas = service.generate("/v1/chat/completions", b, prompt, prompt_tokens, params)
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": req.model or b.model_name,
        }
        if req.stream:
            sent_role = False

            def chunk(d: Delta) -> dict[str, Any]:
                nonlocal sent_role
                delta: dict[str, Any] = {"content": d.text} if d.text or d.finish_reason is None else {}
                if not sent_role:
                    delta["role"] = "assistant"
                    sent_role = True
                choice = {"index": 0, "delta": delta, "finish_reason": d.finish_reason}
                return {**head, "object": "chat.completion.chunk", "choices": [choice]}

            def usage(tokens: int) -> dict[str, Any]:
                return {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": _usage(prompt_tokens, tokens),
                }

            return await _stream(deltas, chunk, usage if _include_usage(req.model_extra) else None)
        text, tokens, finish = await _collect(deltas)
        message = {"role": "assistant", "content": text}
        return {
            **head,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": _usage(prompt_tokens, tokens),
        }

    @router.post("/completions", response_model=None)
    async def completions(req: CompletionRequest) -> dict[str, Any] | StreamingResponse:
        b = service.check_model(req.model)
        if isinstance(req.prompt, list):
            if len(req.prompt) != 1:
                raise BadRequest("only one prompt per request is supported", "prompt")
            prompt = req.prompt[0]
        else:
            prompt = req.prompt
        if not prompt:
            raise BadRequest("prompt must not be empty", "prompt")
        prompt_tokens, new_tokens = service.budget(b, prompt, req.max_tokens, "max_tokens")
        params = _sampling(req, new_tokens)
        deltas = service.generate("/v1/completions", b, prompt, prompt_tokens, params)
        head = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": req.model or b.model_name,
        }
        if req.stream:
            echo_pending = req.echo

            def chunk(d: Delta) -> dict[str, Any]:
                nonlocal echo_pending
                text = d.text
                if echo_pending:
                    text, echo_pending = prompt + text, False
                choice = {"index": 0, "text": text, "finish_reason": d.finish_reason, "logprobs": None}
                return {**head, "object": "text_completion", "choices": [choice]}

            def usage(tokens: int) -> dict[str, Any]:
                return {
                    **head,
                    "object": "text_completion",
                    "choices": [],
                    "usage": _usage(prompt_tokens, tokens),
                }

            return await _stream(deltas, chunk, usage if _include_usage(req.model_extra) else None)
        text, tokens, finish = await _collect(deltas)
        choice = {
            "index": 0,
            "text": (prompt + text) if req.echo else text,
            "finish_reason": finish,
            "logprobs": None,
        }
        return {
            **head,
            "object": "text_completion",
            "choices": [choice],
            "usage": _usage(prompt_tokens, tokens),
        }

    return router


def _sampling(req: ChatCompletionRequest | CompletionRequest, new_tokens: int) -> SamplingParams:
    # OpenAI's temperature 0 means greedy decoding.
    t = 1.0 if req.temperature is None else req.temperature
    return SamplingParams(
        max_new_tokens=new_tokens,
        temperature=t,
        do_sample=t > 0,
        top_p=1.0 if req.top_p is None else req.top_p,
        top_k=0 if req.top_k is None or req.top_k < 0 else req.top_k,
        stop=[req.stop] if isinstance(req.stop, str) else list(req.stop or []),
        seed=req.seed,
        repetition_penalty=req.repetition_penalty or 1.0,
    )


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _stream(deltas: AsyncIterator[Delta], chunk: Chunk, usage: Usage | None) -> StreamingResponse:
    # The first piece is awaited before the 200 goes out, so that a generation that fails at
    # once still gets a proper 4xx instead of a broken stream.
    first = await anext(deltas)

    async def body() -> AsyncIterator[str]:
        tokens = first.tokens
        yield _sse(chunk(first))
        try:
            async for delta in deltas:
                tokens += delta.tokens
                yield _sse(chunk(delta))
        except Exception as err:
            log.exception("stream failed")
            yield _sse({"error": {"message": str(err), "type": "internal_error"}})
        if usage is not None:
            yield _sse(usage(tokens))
        yield _sse("[DONE]")

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


def _include_usage(extra: dict[str, Any] | None) -> bool:
    options = (extra or {}).get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def _collect(deltas: AsyncIterator[Delta]) -> tuple[str, int, str]:
    parts: list[str] = []
    tokens, finish = 0, "stop"
    async for d in deltas:
        parts.append(d.text)
        tokens += d.tokens
        finish = d.finish_reason or finish
    return "".join(parts), tokens, finish


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
