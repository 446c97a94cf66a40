"""Entrypoint: `accelerate launch [--num_processes=N] -m tuning` or `python -m tuning`.

Exit codes: 0 done (adapter + sentinel written), 2 a bad config or dataset (message on
stderr names the field or row), 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from common.logs import log_fields, setup_logging

from .config import load_config
from .errors import ConfigError, DatasetError
from .train import FAILED_SENTINEL, RunPaths, local_rank, run

log = logging.getLogger("tuning")


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="tuning", description="KAITO preset fine-tuning")
    parser.add_argument("--config", default=env("YAML_FILE_PATH", "/mnt/config/training_config.yaml"))
    parser.add_argument("--data-dir", default=env("DATA_DIR", "/mnt/data"))
    parser.add_argument(
        "--output-dir", default=env("OUTPUT_DIR"), help="overrides TrainingArguments.output_dir"
    )
    parser.add_argument(
        "--model-path", default=env("MODEL_PATH"), help="overrides ModelConfig.pretrained_model_name_or_path"
    )
    # KAITO's metrics server listens on 5000+local_rank; 0 turns it off.
    parser.add_argument("--metrics-port", type=int, default=int(env("METRICS_PORT", "5000")))
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))
    ns = parser.parse_args(argv)
    setup_logging(ns.log_level)
    port = ns.metrics_port + local_rank() if ns.metrics_port else None
    output_dir = Path(ns.output_dir or "/mnt/results")
    try:
        config = load_config(ns.config)
        output_dir = Path(config.training_arguments(ns.output_dir)["output_dir"])
        run(
            config,
            RunPaths(
                data_dir=ns.data_dir, output_dir=ns.output_dir, model_path=ns.model_path, metrics_port=port
            ),
        )
    except (ConfigError, DatasetError) as err:
        log_fields(log, "fine-tuning rejected its input", logging.ERROR, error=str(err))
        print(f"error: {err}", file=sys.stderr)
        _mark_failed(output_dir, str(err))
        return 2
    except BaseException as err:
        _mark_failed(output_dir, f"{type(err).__name__}: {err}")
        raise
    return 0


def _termination_message(message: str) -> None:
    """Kubernetes shows this file's text as the container's termination message; the workspace
    controller puts it in the Workspace's status, so `kubectl get workspace` says why a run failed."""
    path = Path(os.environ.get("TERMINATION_MESSAGE_PATH", "/dev/termination-log"))
    try:
        with path.open("w") as fh:
            fh.write(message[-2000:])
    except OSError:
        pass


def _mark_failed(output_dir: Path, message: str) -> None:
    """Tells the pusher sidecar to give up, so that the Job's pod can terminate."""
    if local_rank() != 0:
        return
    _termination_message(message)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / FAILED_SENTINEL).write_text(message + "\n")
    except OSError:
        log.warning("cannot write %s to %s", FAILED_SENTINEL, output_dir)


if __name__ == "__main__":
    sys.exit(main())
