"""The pusher against a real registry: push the adapter, pull it back byte-identical."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from datamovers import pusher
from datamovers.dockerconfig import find_credentials
from datamovers.netguard import Policy
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


LOOPBACK = Policy.parse(["127.0.0.1"])


def fake_busybox(d: Path) -> Path:
    # The image's base carries whatever file it is given; the real-node test runs the real busybox.
    path = d / "busybox"
    path.write_bytes(b"\x7fELF not really busybox")
    return path


def pull(
    host: str, repo: str, tag: str, auth: tuple[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, bytes | str]]]:
    """The manifest, the image config, and each layer's files (symlinks as ``-> target``)."""
    base = f"http://{host}/v2/{repo}"
    r = requests.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, auth=auth, timeout=10)
    r.raise_for_status()
    manifest = r.json()

    def blob(digest: str) -> bytes:
        got = requests.get(f"{base}/blobs/{digest}", auth=auth, timeout=10)
        got.raise_for_status()
        assert "sha256:" + hashlib.sha256(got.content).hexdigest() == digest
        return got.content

    config = json.loads(blob(manifest["config"]["digest"]))
    layers: list[dict[str, bytes | str]] = []
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"])), mode="r:gz") as tar:
            files: dict[str, bytes | str] = {}
            for member in tar.getmembers():
                if member.issym():
                    files[member.name] = f"-> {member.linkname}"
                elif member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    files[member.name] = extracted.read()
            layers.append(files)
    return manifest, config, layers


def test_push_waits_for_the_sentinel_and_makes_a_runnable_adapter_image(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    files = _fake_adapter(tmp_path / "results")
    busybox = fake_busybox(tmp_path)
    target = f"{registry.host}/adapters/tiny-lora:v1"
    termination = tmp_path / "termination-log"
    result: list[int] = []
    argv = [
        "--target",
        target,
        "--results-dir",
        str(tmp_path / "results"),
        "--model-name",
        "tiny",
        "--insecure-registries",
        f"other:1,{registry.host}",
        "--egress-allow",
        "127.0.0.1/32",
        "--busybox",
        str(busybox),
        "--poll",
        "0.05",
        "--docker-config",
        str(tmp_path / "none.json"),
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINATION_LOG", str(termination))
        t = threading.Thread(target=lambda: result.append(pusher.main(argv)))
        t.start()
        time.sleep(0.3)
        assert t.is_alive(), "the pusher must wait for the sentinel"
        (tmp_path / "results" / pusher.SENTINEL).write_text("done\n")
        t.join(30)
    assert result == [0]
    manifest, config, layers = pull(registry.host, "adapters/tiny-lora", "v1")
    assert manifest["mediaType"] == MANIFEST_TYPES
    assert manifest["annotations"][pusher.MODEL_ANNOTATION] == "tiny"
    assert config["config"]["User"] == "65532:65532" and config["os"] == "linux"
    assert len(config["rootfs"]["diff_ids"]) == 2
    base, adapter = layers
    assert base["bin/busybox"] == busybox.read_bytes()
    assert base["bin/sh"] == base["bin/cp"] == "-> busybox"
    assert adapter == {f"data/{name}": data for name, data in files.items()}
    # The published reference pins the digest the registry serves for the tag.
    head = requests.head(
        f"http://{registry.host}/v2/adapters/tiny-lora/manifests/v1", headers={"Accept": MANIFEST_TYPES}
    )
    digest = head.headers["Docker-Content-Digest"]
    assert termination.read_text() == f"{registry.host}/adapters/tiny-lora@{digest}"


def test_an_unchanged_adapter_pushes_to_the_same_digest(registry: LocalRegistry, tmp_path: Path) -> None:
    _fake_adapter(tmp_path)
    (tmp_path / pusher.SENTINEL).write_text("done\n")
    refs = [
        pusher.push(
            pusher.PushOptions(
                target=f"{registry.host}/adapters/again:{tag}",
                results_dir=tmp_path,
                plain_http=True,
                busybox=fake_busybox(tmp_path),
                policy=LOOPBACK,
            )
        )
        for tag in ("a", "b")
    ]
    assert refs[0].split("@")[1] == refs[1].split("@")[1]


def test_push_with_basic_auth_from_a_dockerconfigjson(auth_registry: LocalRegistry, tmp_path: Path) -> None:
    files = _fake_adapter(tmp_path / "results")
    (tmp_path / "results" / pusher.SENTINEL).write_text("done\n")
    target = f"{auth_registry.host}/adapters/secure:v2"
    opts = pusher.PushOptions(
        target=target,
        results_dir=tmp_path / "results",
        model_name="tiny",
        plain_http=True,
        retries=1,
        busybox=fake_busybox(tmp_path),
        policy=LOOPBACK,
    )
    with pytest.raises(pusher.PushError, match="requires credentials"):
        pusher.push(opts)  # anonymous is refused
    config = tmp_path / "config.json"
    wrong = base64.b64encode(b"kaito:wrong").decode()
    config.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": wrong}}}))
    opts.docker_config = config
    with pytest.raises(pusher.PushError, match=r"refused the push \(UNAUTHORIZED\)"):
        pusher.push(opts)
    token = base64.b64encode(b"kaito:s3cret").decode()
    config.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": token}}}))
    pusher.push(opts)
    _, _, layers = pull(auth_registry.host, "adapters/secure", "v2", auth=("kaito", "s3cret"))
    assert layers[1] == {f"data/{name}": data for name, data in files.items()}


def test_a_registry_outside_the_egress_policy_is_refused(registry: LocalRegistry, tmp_path: Path) -> None:
    _fake_adapter(tmp_path)
    termination = tmp_path / "termination-log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINATION_LOG", str(termination))
        (tmp_path / pusher.SENTINEL).write_text("done\n")
        rc = pusher.main(["--target", f"{registry.host}/x:y", "--results-dir", str(tmp_path), "--plain-http"])
    assert rc == 1
    assert "refused by the egress policy: 127.0.0.1 is a loopback address" in termination.read_text()


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


def test_a_push_secret_that_is_not_a_docker_config_fails_before_the_training_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    termination = tmp_path / "termination-log"
    monkeypatch.setenv("TERMINATION_LOG", str(termination))
    opaque = tmp_path / "config.json"
    opaque.write_text("user: kaito\n")
    for config, said in ((tmp_path / "missing.json", "has no .dockerconfigjson key"), (opaque, "not JSON")):
        # No sentinel: the check comes first, so the Job fails without waiting for the trainer.
        argv = ["--target", "r.example/x:1", "--results-dir", str(tmp_path), "--docker-config", str(config)]
        assert pusher.main([*argv, "--push-secret", "acr"]) == 1
        message = termination.read_text()
        assert said in message and "must be a kubernetes.io/dockerconfigjson Secret" in message, message
