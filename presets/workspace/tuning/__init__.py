"""The fine-tuning entrypoint of the preset images: LoRA/QLoRA with TRL's SFTTrainer."""
