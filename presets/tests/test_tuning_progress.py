"""Training progress reaches the logs file and the Prometheus endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from transformers import TrainerControl, TrainerState, TrainingArguments

from conftest import free_port
from tuning.progress import LOG_FILE, ProgressCallback


def test_progress_is_logged_and_scraped(tmp_path: Path) -> None:
    port = free_port()
    callback = ProgressCallback(str(tmp_path), metrics_port=port)
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, report_to="none", use_cpu=True)
    state = TrainerState(max_steps=10, is_world_process_zero=True)
    control = TrainerControl()
    callback.on_train_begin(args, state, control)
    state.global_step, state.epoch = 4, 0.8
    callback.on_log(args, state, control, logs={"loss": 1.25, "learning_rate": 0.01})
    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert records == [
        {**records[0], "step": 4, "max_steps": 10, "epoch": 0.8, "loss": 1.25, "learning_rate": 0.01}
    ]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "kaito_tuning_loss 1.25" in text
    assert "kaito_tuning_progress_ratio 0.4" in text
    assert "kaito_tuning_max_steps 10.0" in text
