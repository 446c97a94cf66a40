"""The chat template used when a model's tokenizer ships none.

Tuning and serving must format conversations the same way, or an adapter trained on one
layout is served with another; both therefore take the template from here.
"""

from __future__ import annotations

from typing import Any

# ChatML: widely understood and needs no special tokens beyond plain text markers, so it
# works with any tokenizer (the markers simply become ordinary tokens when not special).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any, override: str | None = None) -> None:
    """Give the tokenizer a chat template: the override, its own, or the default."""
    if override:
        tokenizer.chat_template = override
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
