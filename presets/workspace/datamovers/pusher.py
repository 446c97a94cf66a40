"""Pushes the fine-tuned adapter as an OCI artifact once the trainer says it is done.

`python -m datamovers.pusher --target REGISTRY/REPO:TAG` runs beside the trainer: it waits
for the sentinel file in the results directory, then pushes adapter_config.json and
adapter_model.safetensors as layers of one OCI artifact annotated with the model name
(`sh.kaito.model.name`), authenticating with the credentials that the .dockerconfigjson holds
for the target's registry. The OCI push itself is done by oras-py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .dockerconfig import find_credentials

log = logging.getLogger("pusher")

SENTINEL = "fine_tuning_completed.txt"
FAILED_SENTINEL = "fine_tuning_failed.txt"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MODEL_ANNOTATION = "sh.kaito.model.name"


class PushError(Exception):
    pass


@dataclass
class PushOptions:
    target: str
    results_dir: Path
    model_name: str = ""
    docker_config: Path | None = None
    plain_http: bool = False
    wait_timeout_s: float = 0  # 0: wait as long as the trainer runs
    poll_s: float = 5.0
    retries: int = 3


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


def push(opts: PushOptions) -> str:
    """Pushes the adapter files; returns the manifest's reference as pushed."""
    import oras.client

    files = [opts.results_dir / name for name in ADAPTER_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise PushError(f"{opts.results_dir} lacks {', '.join(missing)}; nothing to push")
    registry = registry_of(opts.target)
    creds = None
    if opts.docker_config is not None:
        creds = find_credentials(opts.docker_config, registry)
        if creds is None:
            log.warning("no credentials for %s in %s; pushing anonymously", registry, opts.docker_config)
    scheme = auth_scheme(registry, opts.plain_http)
    if scheme and creds is None:
        raise PushError(
            f"{registry} requires credentials ({scheme} auth) and the docker config has none for it"
        )
    # oras-py's default backend treats every challenge as a Bearer token realm; a registry
    # asking for Basic auth needs its basic backend instead.
    backend = "basic" if scheme == "basic" else "token"
    client = oras.client.OrasClient(hostname=registry, insecure=opts.plain_http, auth_backend=backend)
    if creds is not None:
        client.auth.set_basic_auth(creds.username, creds.password)
    annotations = {MODEL_ANNOTATION: opts.model_name} if opts.model_name else {}
    attempt = 0
    while True:
        attempt += 1
        try:
            # Layers are titled with each file's base name; the path check only guards
            # against pushing files outside the working directory, which we choose ourselves.
            response = client.push(
                target=opts.target,
                files=[str(f) for f in files],
                manifest_annotations=annotations,
                disable_path_validation=True,
            )
        except Exception as err:  # network and registry errors surface as several types
            if attempt >= opts.retries:
                raise PushError(f"push to {opts.target} failed: {err}") from err
            log.warning("push attempt %d failed: %s; retrying", attempt, err)
            time.sleep(2**attempt)
            continue
        if response.status_code not in (200, 201):
            raise PushError(
                f"push to {opts.target} failed: HTTP {response.status_code} {response.text[:200]}"
            )
        return opts.target


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="pusher", description="push the tuned adapter as an OCI artifact")
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
    parser.add_argument("--wait-timeout", type=float, default=float(env("WAIT_TIMEOUT_S", "0")))
    parser.add_argument("--poll", type=float, default=float(env("POLL_INTERVAL_S", "5")))
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not ns.target:
        print("error: no target (--target or OUTPUT_IMAGE)", file=sys.stderr)
        return 2
    docker_config = Path(ns.docker_config) if ns.docker_config and Path(ns.docker_config).is_file() else None
    opts = PushOptions(
        target=ns.target,
        results_dir=Path(ns.results_dir),
        model_name=ns.model_name,
        docker_config=docker_config,
        plain_http=ns.plain_http,
        wait_timeout_s=ns.wait_timeout,
        poll_s=ns.poll,
    )
    try:
        log.info("waiting for %s in %s", SENTINEL, opts.results_dir)
        wait_for_sentinel(opts.results_dir, opts.wait_timeout_s, opts.poll_s)
        ref = push(opts)
    except (PushError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    log.info("pushed %s", ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
