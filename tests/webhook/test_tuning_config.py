"""Shape checks of training_config.yaml."""

from __future__ import annotations

from kaito.webhook.tuning_config import check_training_config

QLORA = """\
training_config:
  ModelConfig:
    torch_dtype: bfloat16
    local_files_only: true
  QuantizationConfig:
    load_in_4bit: true
    bnb_4bit_quant_type: nf4
  LoraConfig:
    r: 8
  TrainingArguments:
    output_dir: /mnt/results
  DataCollator:
    mlm: true
  DatasetConfig:
    shuffle_dataset: true
"""


def test_default_qlora_template_is_valid() -> None:
    assert check_training_config({"training_config.yaml": QLORA}, "qlora") == []


def test_lora_rejects_quantization() -> None:
    [problem] = check_training_config({"training_config.yaml": QLORA}, "lora")
    assert "tuning.config" in problem and "load_in_4bit" in problem


def test_qlora_needs_quantization() -> None:
    text = QLORA.replace("load_in_4bit: true", "load_in_4bit: false")
    [problem] = check_training_config({"training_config.yaml": text}, "qlora")
    assert "qlora needs a quantised model" in problem


def test_both_bits() -> None:
    text = QLORA.replace("load_in_4bit: true", "load_in_4bit: true\n    load_in_8bit: true")
    [problem] = check_training_config({"training_config.yaml": text}, "qlora")
    assert "cannot both be true" in problem


def test_non_bool() -> None:
    text = QLORA.replace("load_in_4bit: true", "load_in_4bit: 'yes'")
    [problem] = check_training_config({"training_config.yaml": text}, "qlora")
    assert "must be true or false" in problem


def test_missing_key_and_bad_yaml_and_shape() -> None:
    assert "must have the key training_config.yaml" in check_training_config({"other": ""}, "lora")[0]
    problem = check_training_config({"training_config.yaml": "secret: [hunter2"}, "lora")[0]
    assert "not valid YAML at line" in problem and "hunter2" not in problem
    missing = check_training_config({"password": "hunter2"}, "lora")[0]
    assert "password" not in missing and "hunter2" not in missing
    assert (
        "top-level 'training_config:'" in check_training_config({"training_config.yaml": "x: 1"}, "lora")[0]
    )


def test_unknown_section() -> None:
    text = QLORA + "  Bogus:\n    a: 1\n"
    [problem] = check_training_config({"training_config.yaml": text}, "qlora")
    assert "unknown section training_config.Bogus" in problem and "LoraConfig" in problem


def test_output_dir_outside_mnt() -> None:
    for bad in ("/tmp/out", "/mnt/../etc", "/mnt"):
        text = QLORA.replace("output_dir: /mnt/results", f"output_dir: {bad}")
        [problem] = check_training_config({"training_config.yaml": text}, "qlora")
        assert "output_dir" in problem and "/mnt" in problem
    text = QLORA.replace("output_dir: /mnt/results", "output_dir: results")
    assert check_training_config({"training_config.yaml": text}, "qlora") == []
