"""A tiny causal LM and tokenizer built on the spot, so that no test downloads anything."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "kaito serves and fine tunes large language models on kubernetes",
    "what is the capital of france? the capital of france is paris.",
    "hello, how are you today? i am fine, thank you.",
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nhi<|im_end|>\n",
]


def build_tiny_model(
    target: Path,
    seed: int = 0,
    hidden_size: int = 32,
    heads: int = 4,
    kv_heads: int = 2,
    architecture: str = "llama",
) -> Path:
    """GPU backends need bigger heads (vLLM's kernels want head_dim 64+): pass hidden_size/heads.
    ``architecture="phi3"`` makes a Phi3ForCausalLM (fused qkv_proj and gate_up_proj, as phi-3-mini)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Phi3Config,
        Phi3ForCausalLM,
        PreTrainedTokenizerFast,
    )

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=256,
    )
    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "phi3": (Phi3Config, Phi3ForCausalLM),
    }[architecture]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        # Larger than the default 0.02, so that LoRA updates move the logits enough for a
        # few dozen steps to show a clear drop in loss.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
