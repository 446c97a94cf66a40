"""LoRA fine-tuning end to end on the tiny model, then serving and pushing the adapter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import RunningServer, wait_healthy, workload_env
from registry import LocalRegistry
from test_pusher import fake_busybox, pull

# One question, so that a few dozen CPU steps are enough for the adapter to learn the answer
# reliably, which the serving test then checks.
QA = [("what is the capital of france?", "the capital of france is paris.")]

LORA_CONFIG = """
ModelConfig:
  torch_dtype: float32
  local_files_only: true
  device_map: auto
QuantizationConfig:
  load_in_4bit: false
LoraConfig:
  r: 8
  lora_alpha: 16
  lora_dropout: 0.0
  target_modules: all-linear
TrainingArguments:
  max_steps: 40
  learning_rate: 3e-2
  logging_steps: 1
  per_device_train_batch_size: 4
  save_strategy: "no"
  disable_tqdm: true
DataCollator:
  mlm: true
DatasetConfig:
  shuffle_dataset: true
  train_test_split: 1
"""


def write_messages_jsonl(path: Path, repeat: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for _ in range(repeat):
            for q, a in QA:
                f.write(
                    json.dumps(
                        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
                    )
                    + "\n"
                )


def run_tuning(
    config: Path, data: Path, out: Path, model: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = workload_env(**(extra_env or {}))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tuning",
            "--config",
            str(config),
            "--data-dir",
            str(data),
            "--output-dir",
            str(out),
            "--model-path",
            str(model),
            "--metrics-port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def loaded(stderr: str) -> dict[str, object]:
    """The trainer's "base model loaded" log record."""
    for line in stderr.splitlines():
        if line.startswith("{") and '"base model loaded"' in line:
            record: dict[str, object] = json.loads(line)
            return record
    raise AssertionError(f"no 'base model loaded' record in: {stderr[-2000:]}")


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tuning")
    write_messages_jsonl(root / "data" / "train.jsonl")
    (root / "training_config.yaml").write_text(LORA_CONFIG)
    proc = run_tuning(root / "training_config.yaml", root / "data", root / "results", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (root / "stderr.log").write_text(proc.stderr)
    return root / "results"


def test_the_log_says_how_the_base_was_loaded(trained: Path) -> None:
    import torch

    base = loaded((trained.parent / "stderr.log").read_text())
    # device_map "auto" puts the model on the GPU where there is one.
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert base["quantized"] == "none" and base["device"] == device and base["dtype"] == "float32", base
    assert isinstance(base["footprint_bytes"], int) and base["footprint_bytes"] > 0


def test_tuning_writes_adapter_sentinel_and_lowers_loss(trained: Path) -> None:
    for name in ("adapter_config.json", "adapter_model.safetensors", "fine_tuning_completed.txt"):
        assert (trained / name).is_file(), name
    records = [json.loads(line) for line in (trained / "training_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) >= 20
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first * 0.8, f"loss did not go down: {first:.3f} -> {last:.3f}"


def test_adapter_loads_and_changes_the_model(trained: Path, tiny_model_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(trained))
        after = tuned(ids).logits
    assert not torch.allclose(before, after)


def test_server_serves_with_the_adapter(
    trained: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.app import create_app
    from inference.hf_backend import HFBackend
    from inference.settings import Settings

    adapters = tmp_path / "adapter"
    shutil.copytree(trained, adapters / "qa-lora")
    shutil.copytree(trained, adapters / "second")
    # Strengths come from env vars named after the adapters, as the controller sets them.
    monkeypatch.setenv("qa-lora", "1.0")
    monkeypatch.setenv("second", "0.5")
    for merge in (False, True):
        settings = Settings(
            model_path=str(tiny_model_dir),
            served_model_name="tiny",
            adapters_dir=str(adapters),
            device="cpu",
            merge_adapters=merge,
            combination_type="linear",
        )
        with RunningServer(create_app(lambda s=settings: HFBackend(s))) as running:  # type: ignore[misc]
            wait_healthy(running.url)
            r = httpx.post(
                running.url + "/v1/chat/completions",
                timeout=60,
                json={
                    "messages": [{"role": "user", "content": QA[0][0]}],
                    "max_tokens": 12,
                    "temperature": 0,
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["message"]["content"]
            # Every adapter is listed with its strength, and may be asked for by name.
            models = httpx.get(running.url + "/v1/models", timeout=10).json()["data"]
            assert [(m["id"], m.get("parent"), m.get("strength")) for m in models] == [
                ("tiny", None, None),
                ("qa-lora", "tiny", 1.0),
                ("second", "tiny", 0.5),
            ]
            r = httpx.post(
                running.url + "/v1/completions",
                timeout=60,
                json={"model": "second", "prompt": "hi", "max_tokens": 2, "temperature": 0},
            )
            assert r.status_code == 200, r.text
    monkeypatch.delenv("second")
    # Only the trained adapter, at full strength: it has learnt the answer.
    shutil.rmtree(adapters / "second")
    settings = Settings(
        model_path=str(tiny_model_dir), served_model_name="tiny", adapters_dir=str(adapters), device="cpu"
    )
    with RunningServer(create_app(lambda: HFBackend(settings))) as running:
        wait_healthy(running.url)
        r = httpx.post(
            running.url + "/chat",
            timeout=60,
            json={
                "messages": [{"role": "user", "content": QA[0][0]}],
                "generate_kwargs": {"max_new_tokens": 12, "do_sample": False},
            },
        )
        assert r.status_code == 200, r.text
        assert "paris" in r.json()["Result"]


def test_pusher_pushes_the_trained_adapter(trained: Path, registry: LocalRegistry, tmp_path: Path) -> None:
    from datamovers import pusher

    target = f"{registry.host}/workspace/tuned:0.0.1"
    assert (
        pusher.main(
            [
                "--target",
                target,
                "--results-dir",
                str(trained),
                "--model-name",
                "tiny-llama",
                "--plain-http",
                "--egress-allow",
                "127.0.0.1",
                "--busybox",
                str(fake_busybox(tmp_path)),
                "--poll",
                "0.05",
                "--docker-config",
                "/nonexistent",
            ]
        )
        == 0
    )
    manifest, _, layers = pull(registry.host, "workspace/tuned", "0.0.1")
    assert manifest["annotations"]["sh.kaito.model.name"] == "tiny-llama"
    adapter = layers[1]
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert adapter[f"data/{name}"] == (trained / name).read_bytes()


def test_accelerate_launch_with_csv_context_response_and_eval(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The Job's command line: `accelerate launch -m tuning`, here on a CSV with an eval split."""
    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f'"{q}","{a}"\n' for q, a in QA * 8)
    (data / "train.csv").write_text("question,answer\n" + rows)
    (tmp_path / "c.yaml").write_text(
        "TrainingArguments: {max_steps: 2, logging_steps: 1, eval_strategy: 'no', disable_tqdm: true}\n"
        "DatasetConfig: {context_column: question, response_column: answer, train_test_split: 0.75}\n"
        "LoraConfig: {target_modules: [q_proj, v_proj]}\n"
    )
    env = workload_env(METRICS_PORT="0")
    accelerate = Path(sys.executable).parent / "accelerate"
    proc = subprocess.run(
        [str(accelerate), "launch", "--num_processes=1", "--num_machines=1", "--mixed_precision=no",
         "--dynamo_backend=no", "-m", "tuning", "--config", str(tmp_path / "c.yaml"), "--data-dir", str(data),
         "--output-dir", str(tmp_path / "out"), "--model-path", str(tiny_model_dir)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "out" / "fine_tuning_completed.txt").is_file()
    records = [json.loads(x) for x in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()]
    assert any("eval_loss" in r for r in records), "the held-out split is evaluated"


def test_combined_adapter_is_exactly_the_weighted_sum(
    trained: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """What the vLLM backend serves when it is given several adapters or a strength below 1."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from inference.adapters import AdapterSpec, combine

    config = json.loads((trained / "adapter_config.json").read_text())
    scaling = config["lora_alpha"] / config["r"]
    specs = [AdapterSpec("a", trained, 1.0), AdapterSpec("b", trained, 0.5)]
    out = combine(specs, tmp_path / "combined")
    combined = load_file(str(out / "adapter_model.safetensors"))
    original = load_file(str(trained / "adapter_model.safetensors"))
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 2 * config["r"]
    for key in (k for k in original if ".lora_A." in k):
        b_key = key.replace(".lora_A.", ".lora_B.")
        delta = combined[b_key] @ combined[key]  # the combined adapter's scaling is 1
        expected = 1.5 * scaling * (original[b_key].float() @ original[key].float())
        assert torch.allclose(delta, expected, atol=1e-6), key
    # One adapter at full strength, combined, is the same model as the adapter itself.
    single = combine([AdapterSpec("a", trained, 1.0)], tmp_path / "single")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        direct = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(trained))
        via = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(single))
        assert torch.allclose(direct(ids).logits, via(ids).logits, atol=1e-5)
