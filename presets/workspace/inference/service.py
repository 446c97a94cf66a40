"""What the routes share: the model (loaded in the background), request checks and metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

from common.logs import log_fields

from .backend import Backend, BadRequest, Delta, SamplingParams
from .errors import ApiError
from .metrics import ServerMetrics
from .schemas import ChatMessage

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        load: Callable[[], Backend],
        on_load_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._load = load
        self._on_load_failure = on_load_failure
        self._backend: Backend | None = None
        self.load_error: str | None = None
        self.metrics = ServerMetrics()

    def start_loading(self) -> None:
        # A thread, so that /health answers 503 meanwhile: the kubelet's probes need an
        # answer, not a socket that hangs for the minutes a large model takes.
        threading.Thread(target=self._load_now, name="model-load", daemon=True).start()

    def _load_now(self) -> None:
        try:
            backend = self._load()
        except BaseException as err:
            self.load_error = f"{type(err).__name__}: {err}"
            log_fields(log, "model load failed", logging.ERROR, error=self.load_error)
            if self._on_load_failure is not None:
                self._on_load_failure(err)
            return
        self._backend = backend
        self.metrics.model_loaded.set(1)

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def backend(self) -> Backend:
        if self._backend is None:
            raise ApiError(503, self.load_error or "the model is still loading", "service_unavailable")
        return self._backend

    def check_model(self, requested: str | None) -> Backend:
        b = self.backend()
        if requested and requested != b.model_name and requested not in b.adapters:
            served = ", ".join(repr(m) for m in [b.model_name, *sorted(b.adapters)])
            raise ApiError(
                404,
                f"model {requested!r} does not exist; this server serves {served}",
                "model_not_found",
                "model",
            )
        return b

    @staticmethod
    def render(b: Backend, messages: list[ChatMessage]) -> str:
        if not messages:
            raise BadRequest("messages must hold at least one message", "messages")
        try:
            plain = [{"role": m.role, "content": m.text()} for m in messages]
        except ValueError as err:
            raise BadRequest(str(err), "messages") from err
        return b.render_chat(plain)

    @staticmethod
    def budget(b: Backend, prompt: str, requested: int | None, param: str) -> tuple[int, int]:
        """Returns (prompt tokens, new tokens) after checking both against the context length."""
        prompt_tokens = b.count_tokens(prompt)
        if prompt_tokens >= b.context_length:
            raise BadRequest(
                f"the prompt has {prompt_tokens} tokens, over this model's context length of "
                f"{b.context_length} tokens",
                "messages" if param != "prompt" else "prompt",
            )
        room = b.context_length - prompt_tokens
        if requested is None:
            return prompt_tokens, room
        if requested < 1:
            raise BadRequest(f"{param} must be at least 1, got {requested}", param)
        if requested > room:
            raise BadRequest(
                f"this model's maximum context length is {b.context_length} tokens; the prompt has "
                f"{prompt_tokens} and {param}={requested} asks for {requested} more",
                param,
            )
        return prompt_tokens, requested

    async def generate(
        self, endpoint: str, b: Backend, prompt: str, prompt_tokens: int, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        """Runs one generation, recording tokens, time to first token and total latency."""
        m = self.metrics
        start = time.monotonic()
        first = True
        m.prompt_tokens.labels(endpoint).inc(prompt_tokens)
        m.in_progress.inc()
        try:
            async for delta in b.stream(prompt, params):
                if delta.tokens:
                    if first:
                        m.ttft.labels(endpoint).observe(time.monotonic() - start)
                        first = False
                    m.generated_tokens.labels(endpoint).inc(delta.tokens)
                yield delta
        finally:
            m.in_progress.dec()
            m.latency.labels(endpoint).observe(time.monotonic() - start)
