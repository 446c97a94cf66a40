"""What the HTTP layer needs from a model runtime; implemented by transformers and vLLM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class BadRequest(ValueError):
    """A request the model cannot serve as asked; the server answers 400 with this message."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    do_sample: bool = True
    repetition_penalty: float = 1.0
    min_new_tokens: int = 0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    # Further generate() keywords from KAITO's generate_kwargs; backends may reject them.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Delta:
    """A piece of generated text; the last one of a stream carries the finish reason."""

    text: str
    tokens: int = 0
    finish_reason: str | None = None


class Backend(Protocol):
    model_name: str
    context_length: int
    # The LoRA adapters applied to every request, by name, with their strengths.
    adapters: dict[str, float]

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]: ...
