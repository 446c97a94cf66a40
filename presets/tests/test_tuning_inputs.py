"""Config and dataset checking: every format loads, every mistake is named precisely."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pytest

from tuning.__main__ import main
from tuning.config import DatasetConfig, load_config, parse_config
from tuning.data import prepare
from tuning.errors import ConfigError, DatasetError

ROWS = [{"context": f"question {i}", "response": f"answer {i}"} for i in range(10)]
MESSAGES = [
    {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": f"a{i}"},
        ]
    }
    for i in range(10)
]


def _write(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif path.suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("ext", ["parquet", "jsonl", "json", "csv"])
def test_context_response_in_every_format(tmp_path: Path, ext: str) -> None:
    _write(tmp_path / f"data.{ext}", ROWS)
    data = prepare(
        tmp_path, DatasetConfig(context_column="context", response_column="response", train_test_split=0.8)
    )
    assert data.kind == "messages"
    assert data.eval is not None
    assert len(data.train) == 8 and len(data.eval) == 2
    row = data.train[0]["messages"]
    assert [m["role"] for m in row] == ["user", "assistant"]
    assert row[0]["content"].startswith("question")


@pytest.mark.parametrize("ext", ["parquet", "jsonl"])
def test_openai_messages(tmp_path: Path, ext: str) -> None:
    _write(tmp_path / "sub" / f"chat.{ext}", MESSAGES)
    data = prepare(tmp_path, DatasetConfig(dataset_path="sub", train_test_split=1, shuffle_dataset=False))
    assert data.kind == "messages" and data.eval is None
    assert data.train[3]["messages"][2] == {"role": "assistant", "content": "a3"}


def test_plain_text_column(tmp_path: Path) -> None:
    _write(tmp_path / "t.jsonl", [{"text": "some text"}, {"text": "more text"}])
    data = prepare(tmp_path, DatasetConfig(train_test_split=1))
    assert data.kind == "text" and sorted(data.train["text"]) == ["more text", "some text"]


@pytest.mark.parametrize(
    ("rows", "config", "needle"),
    [
        (
            [*MESSAGES[:2], {"messages": [{"role": "wizard", "content": "x"}]}],
            {},
            "row 3: messages[0].role is 'wizard'",
        ),
        (
            [*MESSAGES[:4], {"messages": [{"role": "user", "content": "only a question"}]}],
            {},
            "row 5: messages has no assistant message",
        ),
        (
            [
                *MESSAGES[:1],
                {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},
            ],
            {},
            "row 2: messages[0].content must be a non-empty string",
        ),
        ([*MESSAGES[:1], {"messages": []}], {}, "row 2: messages must be a non-empty list"),
        (ROWS, {"context_column": "question", "response_column": "response"}, "context_column 'question'"),
        (ROWS, {}, "no response column 'text'"),
        (
            [*ROWS[:6], {"context": "q", "response": None}],
            {"context_column": "context", "response_column": "response"},
            "row 7: column 'response'",
        ),
        (MESSAGES, {"messages_column": "conversation"}, "messages_column 'conversation'"),
    ],
)
def test_bad_rows_are_named(
    tmp_path: Path, rows: list[dict[str, object]], config: dict[str, object], needle: str
) -> None:
    _write(tmp_path / "d.jsonl", rows)
    with pytest.raises(DatasetError) as err:
        prepare(tmp_path, DatasetConfig(shuffle_dataset=False, **config))
    assert needle in str(err.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        prepare(tmp_path / "nope", DatasetConfig())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="no parquet, jsonl, json or csv files"):
        prepare(tmp_path, DatasetConfig())
    (tmp_path / "a.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(DatasetError, match=r"cannot read a\.jsonl as json"):
        prepare(tmp_path, DatasetConfig())
    (tmp_path / "a.jsonl").write_text("")
    _write(tmp_path / "b.csv", ROWS)
    with pytest.raises(DatasetError, match="mixed file types"):
        prepare(tmp_path, DatasetConfig())
    with pytest.raises(DatasetError, match=r"no rows|cannot read"):
        prepare(tmp_path, DatasetConfig(dataset_extension="jsonl"))


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("LoraConfig: {r: 0}", "LoraConfig.r: Input should be greater than 0"),
        ("LoraConfig: {lora_dropout: 2}", "LoraConfig.lora_dropout"),
        ("LoraConfig: {rank: 4}", "unknown field(s) rank"),
        ("ModelConfig: {torch_dtype: int3}", "ModelConfig.torch_dtype"),
        ("ModelConfig: {pretrained_model: x}", "ModelConfig.pretrained_model: unknown field"),
        ("QuantizationConfig: {bnb_4bit_quant_type: nf8}", "QuantizationConfig.bnb_4bit_quant_type"),
        ("TrainingArguments: {learning_rate: fast}", "TrainingArguments.learning_rate"),
        ("TrainingArguments: {num_train_epoch: 1}", "TrainingArguments.num_train_epoch: unknown field"),
        ("TrainingArguments: {save_strategy: sometimes}", "sometimes is not a valid SaveStrategy"),
        ("DatasetConfig: {train_test_split: 1.5}", "DatasetConfig.train_test_split"),
        ("DatasetConfig: {dataset_path: /etc}", "DatasetConfig.dataset_path"),
        ("DataCollator: {mlm_probability: 3}", "DataCollator.mlm_probability"),
        ("Training: {}", "Training: unknown field"),
        ("- a\n- b", "top level must be a mapping"),
        ("LoraConfig: [", "not valid YAML"),
    ],
)
def test_bad_configs_name_the_field(
    tmp_path: Path, yaml_text: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "training_config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert main(["--config", str(path), "--data-dir", str(tmp_path), "--metrics-port", "0"]) == 2
    assert needle in capsys.readouterr().err


def test_kaito_templates_parse_with_upstream_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_TARGET_MODULES", "k_proj,q_proj,v_proj,o_proj")
    config = parse_config(
        {
            "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
            "QuantizationConfig": {
                "load_in_4bit": True,
                "bnb_4bit_quant_type": "nf4",
                "bnb_4bit_compute_dtype": "bfloat16",
                "bnb_4bit_use_double_quant": True,
            },
            "LoraConfig": {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0},
            "TrainingArguments": {
                "output_dir": "/mnt/results",
                "ddp_find_unused_parameters": False,
                "save_strategy": "no",
                "per_device_train_batch_size": 1,
            },
            "DataCollator": {"mlm": True},
            "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
        }
    )
    assert config.lora.target_modules == ["k_proj", "q_proj", "v_proj", "o_proj"]
    assert config.quantization.enabled
    assert config.dataset.response_column == "text" and config.dataset.shuffle_seed == 42
    assert config.model.pretrained_model_name_or_path == "/workspace/tfs/weights"
    assert config.training_arguments("/tmp/out")["output_dir"] == "/tmp/out"
    # v0.3.0 put load_in_4bit under ModelConfig.
    assert parse_config({"ModelConfig": {"load_in_4bit": True}}).quantization.load_in_4bit


SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "manifests" / "config" / "tuning-templates.yaml"


def shipped_templates() -> dict[str, str]:
    """The tuning templates the controller copies into a Job's namespace: ConfigMap name -> the
    training_config.yaml text."""
    import yaml

    return {
        doc["metadata"]["name"]: doc["data"]["training_config.yaml"]
        for doc in yaml.safe_load_all(SHIPPED_TEMPLATES.read_text())
        if doc and doc.get("kind") == "ConfigMap" and "training_config.yaml" in (doc.get("data") or {})
    }


def test_the_shipped_templates_parse_as_the_trainer_reads_them() -> None:
    """The ConfigMaps the controller copies into a tuning Job, as they are: sections under one
    `training_config` key (the webhook requires that key). The first real run on a node failed here."""
    import yaml

    templates = shipped_templates()
    assert {"lora-params-template", "qlora-params-template"} <= set(templates)
    for name, text in templates.items():
        config = parse_config(yaml.safe_load(text), name)
        assert config.lora.r == 8, name
    assert parse_config(yaml.safe_load(templates["qlora-params-template"])).quantization.load_in_4bit
    with pytest.raises(ConfigError, match=r"training_config: LoraConfig\.r"):
        parse_config({"training_config": {"LoraConfig": {"r": "many"}}})


def _tune(tmp_path: Path, model: Path, config: str) -> int:
    """The trainer in this process on MESSAGES, writing to tmp_path/out; its exit code."""
    _write(tmp_path / "data" / "d.jsonl", MESSAGES)
    (tmp_path / "c.yaml").write_text(config)
    args = {
        "--config": tmp_path / "c.yaml",
        "--data-dir": tmp_path / "data",
        "--output-dir": tmp_path / "out",
        "--model-path": model,
        "--metrics-port": 0,
    }
    return main([str(x) for pair in args.items() for x in pair])


def test_qlora_without_a_gpu_is_a_clear_error(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present; QLoRA is tested in test_gpu.py")
    code = _tune(tmp_path, tiny_model_dir, "QuantizationConfig: {load_in_4bit: true}\n")
    assert code == 2
    assert "QuantizationConfig.load_in_4bit" in capsys.readouterr().err
    assert not (tmp_path / "out" / "fine_tuning_completed.txt").exists()
    # The pusher sidecar learns of the failure through this file.
    assert "QuantizationConfig" in (tmp_path / "out" / "fine_tuning_failed.txt").read_text()


CATALOG = Path(__file__).resolve().parents[1] / "catalog" / "models.yaml"


def catalog_target_modules(model: str) -> list[str]:
    """The catalog's tuning.targetModules of a preset: the controller hands them to the trainer as
    DEFAULT_TARGET_MODULES."""
    import yaml

    [entry] = [m for m in yaml.safe_load(CATALOG.read_text())["models"] if m["name"] == model]
    modules: list[str] = entry["tuning"]["targetModules"]
    return modules


PHI3_CONFIG = (
    "ModelConfig: {torch_dtype: float32}\n"
    "TrainingArguments: {max_steps: 2, logging_steps: 1, disable_tqdm: true}\n"
    "DatasetConfig: {train_test_split: 1}\n"
)


@pytest.fixture(scope="module")
def tiny_phi3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("phi3"), architecture="phi3")


def test_phi3_without_target_modules_is_refused_before_the_weights_load(
    tmp_path: Path, tiny_phi3: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PEFT has no default targets for phi-3 (fused qkv_proj): a config naming none, with no catalog
    default, is a named config error rather than PEFT's complaint after the model loaded."""
    monkeypatch.delenv("DEFAULT_TARGET_MODULES", raising=False)
    assert _tune(tmp_path, tiny_phi3, PHI3_CONFIG) == 2
    err = capsys.readouterr().err
    assert "LoraConfig.target_modules is not set" in err and "phi3" in err, err[-2000:]
    assert "base model loaded" not in err
    assert "LoraConfig.target_modules" in (tmp_path / "out" / "fine_tuning_failed.txt").read_text()


def test_phi3_trains_with_the_catalogs_target_modules(
    tmp_path: Path, tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = catalog_target_modules("phi-3-mini-4k-instruct")
    monkeypatch.setenv("DEFAULT_TARGET_MODULES", ",".join(modules))
    assert _tune(tmp_path, tiny_phi3, PHI3_CONFIG) == 0
    adapter = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(modules)
