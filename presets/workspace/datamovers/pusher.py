"""Pushes the fine-tuned adapter as a container image once the trainer says it is done.

`python -m datamovers.pusher --target REGISTRY/REPO:TAG` runs beside the trainer: it waits for the
sentinel file in the results directory, then pushes an OCI image made of two layers:

* a tiny base, busybox (static) as ``/bin/sh``, ``/bin/cp``, ``/bin/mkdir``: the same shape as the
  adapter images upstream KAITO's users build ``FROM busybox``, so that one init container serves
  both: the kubelet pulls the image with the Workspace's pull secrets (or the node's registry identity)
  and runs ``cp -r /data/. <adapter dir>`` inside it;
* the adapter under ``/data`` (``adapter_config.json``, ``adapter_model.safetensors`` and the small
  files the trainer wrote beside them).

Both layers are made deterministically (fixed owner and mtimes), so an unchanged adapter pushes to the
same digest and the base layer is uploaded once per registry. It authenticates with the credentials
the .dockerconfigjson holds for the target's registry (basic or token auth, via oras-py), refuses a
registry that the operator's egress policy does not admit (netguard), and writes the pushed reference,
with its digest, to the termination message, where the workspace controller publishes it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import socket
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .dockerconfig import find_credentials
from .netguard import BlockedAddress, Policy, resolve

log = logging.getLogger("pusher")

SENTINEL = "fine_tuning_completed.txt"
FAILED_SENTINEL = "fine_tuning_failed.txt"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Small files the trainer writes beside the adapter that help serve it (tokenizer, chat template).
_EXTRA_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".md")
_MAX_EXTRA_BYTES = 64 << 20
MODEL_ANNOTATION = "sh.kaito.model.name"
ADAPTER_DIR_IN_IMAGE = "data"
BASE_TOOLS = ("sh", "cp", "mkdir", "ls", "cat")
DEFAULT_BUSYBOX = "/opt/kaito/adapter-base/busybox"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
TERMINATION_LOG = "/dev/termination-log"


class PushError(Exception):
    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


# Registry error codes (distribution spec) that another attempt cannot change.
_REFUSALS = ("UNAUTHORIZED", "DENIED", "NAME_INVALID", "MANIFEST_INVALID", "UNSUPPORTED", "TOOMANYREQUESTS")


@dataclass
class PushOptions:
    target: str
    results_dir: Path
    model_name: str = ""
    docker_config: Path | None = None
    plain_http: bool = False
    wait_timeout_s: float = 0  # 0: wait as long as the trainer runs (the Job's deadline bounds it)
    poll_s: float = 5.0
    retries: int = 3
    busybox: Path = Path(DEFAULT_BUSYBOX)
    policy: Policy = field(default_factory=Policy)


def wait_for_sentinel(results_dir: Path, timeout_s: float, poll_s: float) -> None:
    sentinel = results_dir / SENTINEL
    failed = results_dir / FAILED_SENTINEL
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    while not sentinel.exists():
        if failed.exists():
            reason = failed.read_text(errors="replace").strip()
            raise PushError(f"fine-tuning failed, nothing to push: {reason}")
        if deadline is not None and time.monotonic() > deadline:
            raise PushError(f"{sentinel} did not appear within {timeout_s:.0f}s")
        time.sleep(poll_s)


def registry_of(target: str) -> str:
    host = target.split("/", 1)[0]
    if "/" not in target or ("." not in host and ":" not in host and host != "localhost"):
        return "docker.io"
    return host


def check_egress(registry: str, policy: Policy) -> None:
    """Refuses a registry whose addresses the operator's egress policy does not admit."""
    parts = urlsplit(f"//{registry}")
    try:
        resolve(parts.hostname or registry, parts.port or 443, policy)
    except BlockedAddress as err:
        raise PushError(f"registry {registry} refused by the egress policy: {err}") from None
    except OSError as err:
        raise PushError(f"cannot reach registry {registry}: {err}") from None


def auth_scheme(registry: str, plain_http: bool) -> str | None:
    """The auth scheme the registry challenges with at /v2/ ("basic", "bearer"), or None if open."""
    import requests

    url = f"{'http' if plain_http else 'https'}://{registry}/v2/"
    try:
        response = requests.get(url, timeout=30)
    except requests.RequestException as err:
        raise PushError(f"cannot reach {url}: {err}") from err
    if response.status_code != 401:
        return None
    challenge = response.headers.get("WWW-Authenticate", "bearer")
    return challenge.split(" ", 1)[0].strip().lower() or "bearer"


def adapter_files(results_dir: Path) -> list[Path]:
    """The adapter and the small files beside it; raises PushError when the adapter is missing."""
    missing = [name for name in ADAPTER_FILES if not (results_dir / name).is_file()]
    if missing:
        raise PushError(f"{results_dir} lacks {', '.join(missing)}; nothing to push")
    files = [results_dir / name for name in ADAPTER_FILES]
    extra = 0
    for path in sorted(results_dir.iterdir()):
        if path.name in ADAPTER_FILES or path.name in (SENTINEL, FAILED_SENTINEL) or not path.is_file():
            continue
        if path.suffix in _EXTRA_SUFFIXES and extra + path.stat().st_size <= _MAX_EXTRA_BYTES:
            extra += path.stat().st_size
            files.append(path)
    return files


def _tar_gz(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> tuple[bytes, str]:
    """A gzipped tar of ``entries``, byte-identical for identical entries; and its uncompressed digest
    (the image config's diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    plain = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(plain)
    return packed.getvalue(), "sha256:" + hashlib.sha256(plain).hexdigest()


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def base_layer(busybox: Path) -> tuple[bytes, str]:
    if not busybox.is_file():
        raise PushError(f"{busybox} is missing: the data movers image carries busybox for the adapter base")
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [
        _dir("bin"),
        _file("bin/busybox", busybox.read_bytes(), 0o755),
    ]
    for tool in BASE_TOOLS:
        link = tarfile.TarInfo(f"bin/{tool}")
        link.type = tarfile.SYMTYPE
        link.linkname = "busybox"
        link.mode = 0o777
        entries.append((link, None))
    entries.append(_dir("tmp"))
    return _tar_gz(entries)


def adapter_layer(files: list[Path]) -> tuple[bytes, str]:
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [_dir(ADAPTER_DIR_IN_IMAGE)]
    entries += [_file(f"{ADAPTER_DIR_IN_IMAGE}/{f.name}", f.read_bytes()) for f in files]
    return _tar_gz(entries)


def image_config(diff_ids: list[str], model_name: str) -> bytes:
    config: dict[str, Any] = {
        "architecture": os.environ.get("ADAPTER_IMAGE_ARCH", "amd64"),
        "os": "linux",
        "config": {
            "User": "65532:65532",
            "Cmd": ["/bin/sh"],
            "WorkingDir": f"/{ADAPTER_DIR_IN_IMAGE}",
            "Labels": {MODEL_ANNOTATION: model_name} if model_name else {},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created_by": "kaito pusher: busybox adapter base", "created": "1970-01-01T00:00:00Z"},
            {"created_by": "kaito pusher: adapter files under /data", "created": "1970-01-01T00:00:00Z"},
        ],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _repository(target: str) -> str:
    """``target`` without its tag or digest: where ``@digest`` goes."""
    name = target.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def push(opts: PushOptions) -> str:
    """Pushes the adapter image; returns ``target@sha256:...``, the reference as pushed."""
    import oras.client
    import oras.container

    files = adapter_files(opts.results_dir)
    registry = registry_of(opts.target)
    check_egress(registry, opts.policy)
    creds = None
    if opts.docker_config is not None:
        creds = find_credentials(opts.docker_config, registry)
        if creds is None:
            log.warning("no credentials for %s in %s; pushing anonymously", registry, opts.docker_config)
    scheme = auth_scheme(registry, opts.plain_http)
    if scheme and creds is None:
        raise PushError(
            f"{registry} requires credentials ({scheme} auth) and the push secret has none for it"
        )
    # oras-py's default backend treats every challenge as a Bearer token realm; a registry asking for
    # Basic auth needs its basic backend instead.
    backend = "basic" if scheme == "basic" else "token"
    client = oras.client.OrasClient(hostname=registry, insecure=opts.plain_http, auth_backend=backend)
    if creds is not None:
        client.auth.set_basic_auth(creds.username, creds.password)
    base, base_diff = base_layer(opts.busybox)
    adapter, adapter_diff = adapter_layer(files)
    config = image_config([base_diff, adapter_diff], opts.model_name)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": _descriptor(config, CONFIG_TYPE),
        "layers": [_descriptor(base, LAYER_TYPE), _descriptor(adapter, LAYER_TYPE)],
    }
    if opts.model_name:
        manifest["annotations"] = {MODEL_ANNOTATION: opts.model_name}
    container = oras.container.Container(opts.target)
    attempt = 0
    while True:
        attempt += 1
        try:
            digest = _upload(client, container, manifest, [config, base, adapter])
            return f"{_repository(opts.target)}@{digest}" if "@" not in opts.target else opts.target
        except PushError as err:
            if attempt >= opts.retries or not err.retryable:
                raise
            log.warning("push attempt %d failed: %s; retrying", attempt, err)
        except Exception as err:  # oras-py and requests surface network and registry errors as several types
            refusal = next((code for code in _REFUSALS if code in str(err)), None)
            if refusal is not None:
                raise PushError(f"{registry} refused the push ({refusal}): {err}") from err
            if attempt >= opts.retries:
                raise PushError(f"push to {opts.target} failed: {err}") from err
            log.warning("push attempt %d failed: %s; retrying", attempt, err)
        time.sleep(2**attempt)


def _upload(remote: Any, container: Any, manifest: dict[str, Any], blobs: list[bytes]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = [manifest["config"], *manifest["layers"]]
        for index, (blob, descriptor) in enumerate(zip(blobs, descriptors, strict=True)):
            path = Path(tmp) / f"blob-{index}"
            path.write_bytes(blob)
            response = remote.upload_blob(str(path), container, descriptor)
            if response.status_code not in (200, 201, 202):
                raise PushError(
                    f"blob upload refused: HTTP {response.status_code} {response.text[:200]}",
                    retryable=response.status_code >= 500,
                )
    response = remote.upload_manifest(manifest, container)
    if response.status_code not in (200, 201):
        raise PushError(
            f"manifest refused: HTTP {response.status_code} {response.text[:200]}",
            retryable=response.status_code >= 500,
        )
    digest = response.headers.get("Docker-Content-Digest")
    if not digest:
        # requests serialised the manifest with json.dumps' defaults; that body is what the digest covers.
        digest = "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    return str(digest)


def check_push_secret(name: str, docker_config: Path | None) -> None:
    """Fails at once, not after the training, when the push secret cannot hold registry credentials."""
    problem = None
    if docker_config is None:
        problem = "has no .dockerconfigjson key"
    else:
        try:
            parsed = json.loads(docker_config.read_text())
        except (OSError, ValueError) as err:
            problem = f"holds a .dockerconfigjson that is not JSON ({err})"
        else:
            if not isinstance(parsed, dict) or not isinstance(parsed.get("auths"), dict):
                problem = 'holds a .dockerconfigjson without an "auths" map'
    if problem is not None:
        raise PushError(
            f"push secret {name!r} {problem}: it must be a kubernetes.io/dockerconfigjson Secret "
            "(kubectl create secret docker-registry)"
        )


def _termination_message(text: str) -> None:
    """What ``kubectl describe`` and the controller read as the container's last word."""
    with contextlib.suppress(OSError):
        Path(os.environ.get("TERMINATION_LOG", TERMINATION_LOG)).write_text(text[:4000])


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="pusher", description="push the tuned adapter as an image")
    parser.add_argument("--target", default=env("OUTPUT_IMAGE"), help="registry/repository:tag")
    parser.add_argument("--results-dir", default=env("RESULTS_DIR", "/mnt/results"))
    parser.add_argument("--model-name", default=env("MODEL_NAME", ""))
    parser.add_argument(
        "--docker-config",
        default=env("DOCKER_CONFIG_FILE", "/root/.docker/config.json"),
        help="a .dockerconfigjson; a missing file means anonymous push",
    )
    parser.add_argument(
        "--plain-http", action="store_true", default=env("PLAIN_HTTP", "").lower() in {"1", "true", "yes"}
    )
    parser.add_argument(
        "--insecure-registries",
        default=env("INSECURE_REGISTRIES", ""),
        help="comma separated registries (host:port) spoken to over plain HTTP; the operator's list",
    )
    parser.add_argument(
        "--push-secret",
        default=env("PUSH_SECRET_NAME", ""),
        help="the Secret the docker config comes from: when named, it must hold one (checked at start)",
    )
    parser.add_argument("--egress-allow", default=env("EGRESS_ALLOW", ""), help="see netguard")
    parser.add_argument("--busybox", default=env("ADAPTER_BASE_BUSYBOX", DEFAULT_BUSYBOX))
    parser.add_argument("--wait-timeout", type=float, default=float(env("WAIT_TIMEOUT_S", "0")))
    parser.add_argument("--push-timeout", type=float, default=float(env("PUSH_TIMEOUT_S", "120")))
    parser.add_argument("--poll", type=float, default=float(env("POLL_INTERVAL_S", "5")))
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not ns.target:
        print("error: no target (--target or OUTPUT_IMAGE)", file=sys.stderr)
        return 2
    # requests has no overall timeout; every socket the push opens gets this one.
    socket.setdefaulttimeout(ns.push_timeout)
    docker_config = Path(ns.docker_config) if ns.docker_config and Path(ns.docker_config).is_file() else None
    insecure = {r.strip().lower() for r in ns.insecure_registries.split(",") if r.strip()}
    try:
        policy = Policy.parse(ns.egress_allow.split(","))
        opts = PushOptions(
            target=ns.target,
            results_dir=Path(ns.results_dir),
            model_name=ns.model_name,
            docker_config=docker_config,
            plain_http=ns.plain_http or registry_of(ns.target).lower() in insecure,
            wait_timeout_s=ns.wait_timeout,
            poll_s=ns.poll,
            busybox=Path(ns.busybox),
            policy=policy,
        )
        if ns.push_secret:
            check_push_secret(ns.push_secret, docker_config)
        log.info("waiting for %s in %s", SENTINEL, opts.results_dir)
        wait_for_sentinel(opts.results_dir, opts.wait_timeout_s, opts.poll_s)
        ref = push(opts)
    except (PushError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        _termination_message(f"push failed: {err}")
        return 1
    log.info("pushed %s", ref)
    _termination_message(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
