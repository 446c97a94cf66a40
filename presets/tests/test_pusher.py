"""The pusher against a real registry: push the adapter, pull it back byte-identical."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from datamovers import pusher
from datamovers.dockerconfig import find_credentials
from registry import LocalRegistry

MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"


def _fake_adapter(d: Path) -> dict[str, bytes]:
    # Real bytes of the right shape; the tuning test pushes a trained adapter end to end.
    d.mkdir(parents=True, exist_ok=True)
    files = {
        "adapter_config.json": json.dumps({"r": 8, "peft_type": "LORA"}).encode(),
        "adapter_model.safetensors": bytes(range(256)) * 64,
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return files


def pull(
    host: str, repo: str, tag: str, auth: tuple[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    base = f"http://{host}/v2/{repo}"
    r = requests.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, auth=auth, timeout=10)
    r.raise_for_status()
    manifest = r.json()
    blobs: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        blob = requests.get(f"{base}/blobs/{layer['digest']}", auth=auth, timeout=10)
        blob.raise_for_status()
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer["digest"]
        blobs[layer["annotations"]["org.opencontainers.image.title"]] = blob.content
    return manifest, blobs


def test_push_waits_for_the_sentinel_and_round_trips(registry: LocalRegistry, tmp_path: Path) -> None:
    files = _fake_adapter(tmp_path)
    target = f"{registry.host}/adapters/tiny-lora:v1"
    result: list[int] = []
    t = threading.Thread(
        target=lambda: result.append(
            pusher.main(
                [
                    "--target",
                    target,
                    "--results-dir",
                    str(tmp_path),
                    "--model-name",
                    "tiny",
                    "--plain-http",
                    "--poll",
                    "0.05",
                    "--docker-config",
                    str(tmp_path / "none.json"),
                ]
            )
        )
    )
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "the pusher must wait for the sentinel"
    (tmp_path / pusher.SENTINEL).write_text("done\n")
    t.join(30)
    assert result == [0]
    manifest, blobs = pull(registry.host, "adapters/tiny-lora", "v1")
    assert manifest["annotations"][pusher.MODEL_ANNOTATION] == "tiny"
    assert blobs == files


def test_push_with_basic_auth_from_a_dockerconfigjson(auth_registry: LocalRegistry, tmp_path: Path) -> None:
    files = _fake_adapter(tmp_path / "results")
    (tmp_path / "results" / pusher.SENTINEL).write_text("done\n")
    target = f"{auth_registry.host}/adapters/secure:v2"
    opts = pusher.PushOptions(
        target=target, results_dir=tmp_path / "results", model_name="tiny", plain_http=True, retries=1
    )
    with pytest.raises(pusher.PushError):
        pusher.push(opts)  # anonymous is refused
    config = tmp_path / "config.json"
    token = base64.b64encode(b"kaito:s3cret").decode()
    config.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": token}}}))
    opts.docker_config = config
    pusher.push(opts)
    _, blobs = pull(auth_registry.host, "adapters/secure", "v2", auth=("kaito", "s3cret"))
    assert blobs == files


def test_missing_adapter_files_timeout_and_failed_training(tmp_path: Path) -> None:
    with pytest.raises(pusher.PushError, match="did not appear"):
        pusher.wait_for_sentinel(tmp_path, timeout_s=0.1, poll_s=0.02)
    (tmp_path / pusher.FAILED_SENTINEL).write_text("DatasetError: row 3: bad\n")
    with pytest.raises(pusher.PushError, match="fine-tuning failed, nothing to push: DatasetError: row 3"):
        pusher.wait_for_sentinel(tmp_path, timeout_s=0, poll_s=0.02)
    with pytest.raises(pusher.PushError, match=r"adapter_model\.safetensors"):
        (tmp_path / "adapter_config.json").write_text("{}")
        pusher.push(pusher.PushOptions(target="127.0.0.1:1/x:y", results_dir=tmp_path))


def test_dockerconfig_lookup(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
                    "myregistry.azurecr.io": {"username": "u", "password": "p"},
                }
            }
        )
    )
    assert find_credentials(cfg, "docker.io") is not None
    assert find_credentials(cfg, "myregistry.azurecr.io") == find_credentials(cfg, "MyRegistry.azurecr.io")
    assert find_credentials(cfg, "other.io") is None
    assert pusher.registry_of("myregistry.azurecr.io/a/b:c") == "myregistry.azurecr.io"
    assert pusher.registry_of("library/busybox:1") == "docker.io"
    assert pusher.registry_of("localhost:5000/x:1") == "localhost:5000"
