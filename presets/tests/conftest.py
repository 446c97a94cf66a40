"""Shared fixtures: the tiny model, and running the inference app on a loopback port."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Keep the shared 2-core machine usable and make runs reproducible.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from tinymodel import build_tiny_model

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace"


def workload_env(**extra: str) -> dict[str, str]:
    """The environment for running a workload (``python -m tuning`` / ``inference``) in a subprocess.
    The caller's PYTHONPATH stays, behind the workspace: on a GPU machine it carries the pinned
    packages in front of the image's own."""
    path = os.pathsep.join(p for p in (str(WORKSPACE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_healthy(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError("server never became healthy")


@pytest.fixture
def serve() -> Iterator[type[RunningServer]]:
    yield RunningServer


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from registry import LocalRegistry, registry_binary

    if registry_binary() is None:
        pytest.skip("docker-registry is not installed; hack/presets/setup-venv.sh installs it")
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    import bcrypt

    from registry import LocalRegistry, registry_binary

    if registry_binary() is None:
        pytest.skip("docker-registry is not installed; hack/presets/setup-venv.sh installs it")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    reg = LocalRegistry(tmp_path_factory.mktemp("auth-registry"), htpasswd=f"kaito:{hashed}\n")
    yield reg
    reg.stop()
