"""KAITO's original endpoints: `/`, `/health`, `/healthz` and `POST /chat`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .backend import BadRequest, SamplingParams
from .schemas import GenerateKwargs, UnifiedRequest
from .service import Service

# generate_kwargs fields that map to SamplingParams; the rest go to generate() as they are.
_PASSED_THROUGH = ("num_beams", "early_stopping", "typical_p", "pad_token_id", "eos_token_id")


def kaito_router(service: Service) -> APIRouter:
    router = APIRouter()

    def health() -> JSONResponse:
        if service.loaded:
            return JSONResponse({"status": "Healthy"})
        status = "Failed" if service.load_error else "Loading"
        return JSONResponse({"status": status, "error": service.load_error}, status_code=503)

    router.add_api_route("/health", health, methods=["GET"])
    router.add_api_route("/healthz", health, methods=["GET"])

    @router.get("/")
    def root() -> dict[str, str]:
        return {"message": "Server is running"}

    @router.post("/chat")
    async def chat(req: UnifiedRequest) -> dict[str, str]:
        b = service.backend()
        if (req.prompt is None) == (req.messages is None):
            raise BadRequest("give exactly one of prompt (text generation) or messages (chat)", "prompt")
        if req.prompt is not None:
            if not req.prompt:
                raise BadRequest("prompt must not be empty", "prompt")
            prompt = (req.prefix or "") + req.prompt
        else:
            prompt = service.render(b, req.messages or [])
        gk = req.generate_kwargs
        prompt_tokens = b.count_tokens(prompt)
        if gk.max_new_tokens is not None:
            requested, param = gk.max_new_tokens, "generate_kwargs.max_new_tokens"
        else:
            # HF's max_length counts the prompt too.
            requested, param = gk.max_length - prompt_tokens, "generate_kwargs.max_length"
            if requested < 1:
                raise BadRequest(
                    f"generate_kwargs.max_length={gk.max_length} leaves no room after the prompt's "
                    f"{prompt_tokens} tokens; raise it or set generate_kwargs.max_new_tokens",
                    param,
                )
        _, new_tokens = service.budget(b, prompt, requested, param)
        params = SamplingParams(
            max_new_tokens=new_tokens,
            temperature=gk.temperature,
            top_k=gk.top_k,
            top_p=gk.top_p,
            do_sample=gk.do_sample,
            repetition_penalty=gk.repetition_penalty,
            min_new_tokens=max(0, gk.min_length - prompt_tokens),
            extra=_extra_generate_kwargs(gk),
        )
        deltas = service.generate("/chat", b, prompt, prompt_tokens, params)
        text = "".join([d.text async for d in deltas])
        if req.prompt is not None and req.return_full_text:
            text = req.prompt + text
        return {"Result": text}

    return router


def _extra_generate_kwargs(gk: GenerateKwargs) -> dict[str, object]:
    fields = type(gk).model_fields
    extra: dict[str, object] = {k: v for k, v in (gk.model_extra or {}).items() if k not in fields}
    for key in _PASSED_THROUGH:
        value = getattr(gk, key)
        if value is not None and value != fields[key].default:
            extra[key] = value
    return extra
