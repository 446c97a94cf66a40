"""`python -m inference` as the container runs it: flags/env wiring, and exit on a failed load."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_healthy, workload_env


def test_serves_from_env_settings(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = workload_env(
        MODEL_PATH=str(tiny_model_dir),
        SERVED_MODEL_NAME="tiny-cli",
        ADAPTERS_DIR=str(tmp_path),
        PORT=str(port),
        HOST="127.0.0.1",
        DEVICE="cpu",
        INFERENCE_BACKEND="transformers",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                httpx.get(url + "/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        wait_healthy(url, timeout=120)
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "tiny-cli"
        r = httpx.post(
            url + "/v1/completions",
            json={"model": "tiny-cli", "prompt": "hello", "max_tokens": 4},
            timeout=60,
        )
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(30)


def test_asking_for_vllm_where_it_is_not_installed_says_so(tiny_model_dir: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    env = workload_env(
        MODEL_PATH=str(tiny_model_dir), PORT=str(free_port()), HOST="127.0.0.1", INFERENCE_BACKEND="vllm"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "inference"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert "vLLM is not installed in this image" in proc.stderr


def test_exits_when_the_model_cannot_load(tmp_path: Path) -> None:
    env = workload_env(
        MODEL_PATH=str(tmp_path / "missing"),
        PORT=str(free_port()),
        HOST="127.0.0.1",
        INFERENCE_BACKEND="transformers",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "inference"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert "model load failed" in proc.stderr
