"""Request bodies of the server's endpoints.

`/chat` keeps KAITO's original body (`UnifiedRequestModel`) so existing clients keep working;
the `/v1/*` bodies follow OpenAI's. Fields that we do not act upon are still accepted where
OpenAI clients routinely send them, so that stock SDKs do not get 400s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant", "tool", "developer"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    # OpenAI allows content parts ([{"type": "text", "text": ...}]); text parts are joined.
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts: list[str] = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError("only text content parts are supported")
            parts.append(part["text"])
        return "".join(parts)


class GenerateKwargs(BaseModel):
    """KAITO's generate_kwargs: HF generation settings; unknown keys pass through to generate()."""

    model_config = ConfigDict(extra="allow")

    max_length: int = Field(200, gt=0)
    min_length: int = Field(0, ge=0)
    do_sample: bool = True
    early_stopping: bool = False
    num_beams: int = Field(1, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_k: int = Field(10, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    typical_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    pad_token_id: int | None = None
    eos_token_id: int | None = None
    max_new_tokens: int | None = Field(None, gt=0)


class UnifiedRequest(BaseModel):
    """Body of KAITO's `POST /chat`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: str | None = None
    generate_kwargs: GenerateKwargs = Field(default_factory=lambda: GenerateKwargs())


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    repetition_penalty: float | None = Field(None, gt=0)

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not value:
            raise ValueError("messages must hold at least one message")
        return value


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = 16
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool = False
    repetition_penalty: float | None = Field(None, gt=0)
