"""Training progress as JSON logs, a JSONL file beside the adapter, and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from common.logs import log_fields

log = logging.getLogger(__name__)

LOG_FILE = "training_log.jsonl"


class ProgressCallback(TrainerCallback):
    def __init__(self, output_dir: str, metrics_port: int | None = None) -> None:
        self.path = Path(output_dir) / LOG_FILE
        self.registry = CollectorRegistry()
        self.loss = Gauge("kaito_tuning_loss", "Latest training loss.", registry=self.registry)
        self.eval_loss = Gauge("kaito_tuning_eval_loss", "Latest evaluation loss.", registry=self.registry)
        self.step = Gauge("kaito_tuning_step", "Optimizer steps done.", registry=self.registry)
        self.max_steps = Gauge("kaito_tuning_max_steps", "Optimizer steps planned.", registry=self.registry)
        self.epoch = Gauge("kaito_tuning_epoch", "Epochs done (fractional).", registry=self.registry)
        self.progress = Gauge("kaito_tuning_progress_ratio", "step / max_steps.", registry=self.registry)
        self.completed = Gauge(
            "kaito_tuning_completed", "1 once the adapter is saved.", registry=self.registry
        )
        self._started = time.monotonic()
        if metrics_port:
            start_http_server(metrics_port, registry=self.registry)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.max_steps.set(state.max_steps)
        if state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")
        log_fields(log, "training started", max_steps=state.max_steps, epochs=args.num_train_epochs)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        self.step.set(state.global_step)
        self.epoch.set(state.epoch or 0)
        if state.max_steps:
            self.progress.set(state.global_step / state.max_steps)
        if "loss" in logs:
            self.loss.set(logs["loss"])
        if "eval_loss" in logs:
            self.eval_loss.set(logs["eval_loss"])
        if not state.is_world_process_zero:
            return
        record = {
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": state.epoch,
            "elapsed_s": round(time.monotonic() - self._started, 2),
            **logs,
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        log_fields(log, "training progress", **record)
