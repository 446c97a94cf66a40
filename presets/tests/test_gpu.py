"""Checks that need an NVIDIA GPU: QLoRA through bitsandbytes, and the vLLM backend.

Skipped on machines without CUDA (conftest.py); run them on a GPU machine with the GPU extras:
`PRESETS_GPU=1 hack/presets/setup-venv.sh`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from conftest import RunningServer, wait_healthy
from test_tuning import QA, loaded, run_tuning, write_messages_jsonl
from test_tuning_inputs import catalog_target_modules, shipped_templates
from tinymodel import build_tiny_model

pytestmark = pytest.mark.gpu

QLORA_CONFIG = """
ModelConfig: {torch_dtype: bfloat16, local_files_only: true, device_map: auto}
QuantizationConfig:
  load_in_4bit: true
  bnb_4bit_quant_type: nf4
  bnb_4bit_compute_dtype: bfloat16
  bnb_4bit_use_double_quant: true
LoraConfig: {r: 8, lora_alpha: 16, lora_dropout: 0.0, target_modules: all-linear}
TrainingArguments: {max_steps: 30, learning_rate: 3e-2, logging_steps: 1, per_device_train_batch_size: 4,
                    disable_tqdm: true}
DatasetConfig: {train_test_split: 1}
"""


@pytest.fixture(scope="module")
def gpu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("gpu-model"), hidden_size=128, heads=2, kv_heads=2)


@pytest.fixture(scope="module")
def qlora(gpu_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A QLoRA run on the GPU: the adapter directory and the trainer's stderr."""
    pytest.importorskip("bitsandbytes")
    root = tmp_path_factory.mktemp("qlora")
    write_messages_jsonl(root / "data" / "train.jsonl")
    (root / "c.yaml").write_text(QLORA_CONFIG)
    proc = run_tuning(root / "c.yaml", root / "data", root / "out", gpu_model)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "out", proc.stderr


def test_qlora_tuning_on_gpu(qlora: tuple[Path, str]) -> None:
    out, stderr = qlora
    # The base really was loaded in 4 bits on the GPU, not silently in full precision or on the CPU.
    base = loaded(stderr)
    assert base["quantized"] == "4bit" and str(base["device"]).startswith("cuda"), base
    for name in ("adapter_config.json", "adapter_model.safetensors", "fine_tuning_completed.txt"):
        assert (out / name).is_file()
    losses = [json.loads(x).get("loss") for x in (out / "training_log.jsonl").read_text().splitlines()]
    losses = [x for x in losses if x is not None]
    assert sum(losses[-3:]) < sum(losses[:3])


def cuda_server(model: Path, adapters: Path, served_name: str) -> RunningServer:
    """The inference server with the transformers backend on CUDA over the bf16 base, serving the
    adapters under ``adapters`` at the strengths their env vars give."""
    from inference.app import create_app
    from inference.hf_backend import HFBackend
    from inference.settings import Settings

    settings = Settings(
        model_path=str(model),
        served_model_name=served_name,
        adapters_dir=str(adapters),
        device="cuda",
        dtype="bfloat16",
    )
    return RunningServer(create_app(lambda: HFBackend(settings)))


def test_the_qlora_adapter_is_served_on_gpu(
    qlora: tuple[Path, str], gpu_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's flow on a GPU: the adapter QLoRA produced, served by the transformers backend on
    CUDA over the bf16 base, changes the greedy answer against the same server at strength 0."""
    out, _ = qlora
    adapters = tmp_path / "adapters"
    shutil.copytree(out, adapters / "qlora")
    body = {"messages": [{"role": "user", "content": QA[0][0]}], "max_tokens": 12, "temperature": 0}
    answers = {}
    for strength in ("1.0", "0"):
        monkeypatch.setenv("qlora", strength)
        with cuda_server(gpu_model, adapters, "tiny") as running:
            wait_healthy(running.url, timeout=120)
            r = httpx.post(running.url + "/v1/chat/completions", json=body, timeout=60)
            assert r.status_code == 200, r.text
            answers[strength] = r.json()["choices"][0]["message"]["content"]
            models = httpx.get(running.url + "/v1/models", timeout=10).json()["data"]
            assert ("qlora", "tiny", float(strength)) in [
                (m["id"], m.get("parent"), m.get("strength")) for m in models
            ]
    assert answers["1.0"] != answers["0"], answers


def test_the_shipped_qlora_template_tunes_phi3_and_the_adapter_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's flow on a GPU with phi-3's architecture (scaled down): the controller's default
    qlora-params-template, unchanged but for a step cap, and the catalog's target modules train a
    Phi3ForCausalLM in 4 bits on chat messages; the adapter is served on CUDA over the bf16 base."""
    pytest.importorskip("bitsandbytes")
    import yaml
    from safetensors.torch import load_file

    model = build_tiny_model(tmp_path / "phi3", hidden_size=128, heads=2, kv_heads=2, architecture="phi3")
    config = yaml.safe_load(shipped_templates()["qlora-params-template"])
    config["training_config"]["TrainingArguments"].update(max_steps=20, disable_tqdm=True, logging_steps=1)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    write_messages_jsonl(tmp_path / "data" / "train.jsonl")
    # As the controller sets it from the catalog for the phi-3 presets.
    modules = catalog_target_modules("phi-3-mini-4k-instruct")
    proc = run_tuning(
        tmp_path / "c.yaml",
        tmp_path / "data",
        tmp_path / "out",
        model,
        extra_env={"DEFAULT_TARGET_MODULES": ",".join(modules)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    base = loaded(proc.stderr)
    assert base["quantized"] == "4bit" and str(base["device"]).startswith("cuda"), base
    out = tmp_path / "out"
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert sorted(targets) == sorted(modules), targets
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items()), "lora_B never moved"

    adapters = tmp_path / "adapters"
    shutil.copytree(out, adapters / "phi3-qlora")
    monkeypatch.setenv("phi3-qlora", "1.0")
    with cuda_server(model, adapters, "phi-3-tiny") as running:
        wait_healthy(running.url, timeout=120)
        body = {"messages": [{"role": "user", "content": QA[0][0]}], "max_tokens": 8, "temperature": 0}
        r = httpx.post(running.url + "/v1/chat/completions", json=body, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
        ids = [m["id"] for m in httpx.get(running.url + "/v1/models", timeout=10).json()["data"]]
        assert ids == ["phi-3-tiny", "phi3-qlora"], ids


def test_vllm_backend_serves_the_same_api(gpu_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from inference.app import create_app
    from inference.settings import Settings
    from inference.vllm_backend import VLLMBackend

    settings = Settings(
        model_path=str(gpu_model),
        served_model_name="tiny",
        adapters_dir=str(tmp_path),
        max_model_len=256,
        gpu_memory_utilization=0.3,
        dtype="bfloat16",
        vllm_engine_args={"enforce_eager": True},
    )
    with RunningServer(create_app(lambda: VLLMBackend(settings))) as running:
        wait_healthy(running.url, timeout=600)
        body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, "temperature": 0}
        r = httpx.post(running.url + "/v1/chat/completions", json=body, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
        with httpx.stream(
            "POST", running.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=120
        ) as s:
            lines = [line for line in s.iter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        r = httpx.post(
            running.url + "/chat",
            json={"prompt": "the quick", "generate_kwargs": {"max_length": 16}},
            timeout=120,
        )
        assert r.status_code == 200 and r.json()["Result"].startswith("the quick")
        bad = httpx.post(running.url + "/v1/chat/completions", json={**body, "max_tokens": -1}, timeout=30)
        assert bad.status_code == 400
