"""Entrypoint: `python -m inference [flags]` serves on :5000 (see settings.py for flags/env)."""

from __future__ import annotations

import uvicorn

from common.logs import setup_logging

from .app import create_app, exit_process
from .backend import Backend
from .settings import Settings, parse_settings


def make_loader(settings: Settings) -> Backend:
    from .vllm_backend import VLLMBackend, vllm_available

    if settings.backend == "vllm" and not vllm_available():
        # The controller asks for vLLM where the catalog and the GPUs allow it; the image must have it.
        raise RuntimeError(
            "INFERENCE_BACKEND=vllm, but vLLM is not installed in this image: build its base with "
            "GPU_EXTRAS=1 (presets/workspace/docker/Dockerfile.base)"
        )
    use_vllm = settings.backend == "vllm" or (settings.backend == "auto" and vllm_available())
    if use_vllm:
        return VLLMBackend(settings)
    from .hf_backend import HFBackend

    return HFBackend(settings)


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    setup_logging(settings.log_level)
    app = create_app(lambda: make_loader(settings), on_load_failure=exit_process)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
