"""A loopback OCI registry (Debian's ``docker-registry``, i.e. distribution v2) for the project's images.

Its storage lives in the cache, ``${KAITO_CACHE_DIR:-~/.cache/kaito}/registry``, outside the checkout, so
what ``make images`` pushed survives a restart of the registry and a fresh clone. It listens on
``127.0.0.1:<port>`` only (default 5001, env ``KAITO_REGISTRY_PORT``) and serves plain http; its debug
server (where its Prometheus metrics would be) is not configured, so it opens no other port.

Also the few registry API calls the image build and its tests need (manifest digests, re-tagging), to
that registry or any other: a registry that answers 401 gets the credentials ``buildah login`` stored
(the same auth files buildah's push reads), as Basic or for a Bearer token (ACR, Docker Hub, GHCR).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

DEFAULT_PORT = 5001
# What a HEAD/GET of a manifest accepts: buildah pushes OCI manifests, other tools docker v2 schema 2.
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def cache_dir() -> Path:
    return Path(os.environ.get("KAITO_CACHE_DIR") or Path.home() / ".cache" / "kaito")


def default_port() -> int:
    return int(os.environ.get("KAITO_REGISTRY_PORT") or DEFAULT_PORT)


def is_loopback(address: str) -> bool:
    """True for a registry address (host[:port]) on this machine's loopback."""
    host = address
    if address.startswith("["):
        host = address[1:].split("]", 1)[0]
    elif address.count(":") == 1:
        host = address.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(address: str, path: str) -> str:
    """Plain http for the loopback registry (as containerd's hosts.toml has it), https elsewhere."""
    return f"{'http' if is_loopback(address) else 'https'}://{address}{path}"


class RegistryError(RuntimeError):
    """The loopback registry could not be started, or a registry answered a request with an error."""


def _request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers, body). 4xx/5xx come back as a status, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    # No proxy for the loopback registry: an http_proxy from the environment must not see it. A registry
    # elsewhere (and its token service) is reached as the environment says.
    local = is_loopback(urllib.parse.urlsplit(url).netloc)
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if local else []))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except OSError as exc:
        raise RegistryError(f"{method} {url}: {exc}") from exc


def auth_files() -> list[Path]:
    """Where ``buildah login`` (and ``podman``/``docker login``) keep credentials, in buildah's order."""
    files = [Path(os.environ["REGISTRY_AUTH_FILE"])] if os.environ.get("REGISTRY_AUTH_FILE") else []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    # Without XDG_RUNTIME_DIR (root, CI) buildah keeps them under /run/containers/<uid>.
    files.append(
        Path(runtime) / "containers" / "auth.json"
        if runtime
        else Path(f"/run/containers/{os.getuid()}/auth.json")
    )
    home = Path.home()
    return [*files, home / ".config" / "containers" / "auth.json", home / ".docker" / "config.json"]


def credentials(address: str) -> tuple[str, str] | None:
    """(user, password) stored for ``address`` (host[:port]), or None."""
    for path in auth_files():
        try:
            auths = json.loads(path.read_text()).get("auths") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for key in (address, f"https://{address}", f"http://{address}"):
            encoded = (auths.get(key) or {}).get("auth")
            if encoded:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
                return user, password
    return None


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
# Bearer tokens by (registry, scope), for this process: one token request per repository and action.
_tokens: dict[tuple[str, str], str] = {}


def _authorization(address: str, challenge: str) -> str | None:
    """The Authorization header answering a 401's ``WWW-Authenticate``, from the stored credentials."""
    stored = credentials(address)
    scheme = challenge.split(" ", 1)[0].lower()
    basic = "Basic " + base64.b64encode(":".join(stored).encode()).decode() if stored else None
    if scheme == "basic":
        return basic
    if scheme != "bearer":
        return None
    params = dict(_CHALLENGE_PARAM.findall(challenge))
    key = (address, params.get("scope", ""))
    if key not in _tokens:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
        status, _, body = _request(
            "GET", f"{params['realm']}?{query}", headers={"Authorization": basic} if basic else {}
        )
        if status != 200:
            hint = "" if stored else f" (no credentials for {address}: `buildah login {address}`)"
            raise RegistryError(f"token for {address} {params.get('scope', '')}: HTTP {status}{hint}")
        answer = json.loads(body)
        _tokens[key] = str(answer.get("token") or answer.get("access_token") or "")
    return f"Bearer {_tokens[key]}"


def _registry_request(
    method: str,
    address: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """A registry API request that answers a 401 challenge once with the stored credentials."""
    url = _url(address, path)
    status, answer, body = _request(method, url, headers=headers, data=data, timeout=timeout)
    challenge = answer.get("www-authenticate")
    if status == 401 and challenge:
        authorization = _authorization(address, challenge)
        if authorization is not None:
            status, answer, body = _request(
                method,
                url,
                headers={**(headers or {}), "Authorization": authorization},
                data=data,
                timeout=timeout,
            )
    return status, answer, body


def answers(address: str, timeout: float = 1.0) -> bool:
    """True when a registry answers ``GET /v2/`` at ``address`` (host:port)."""
    try:
        status, _, _ = _request("GET", _url(address, "/v2/"), timeout=timeout)
    except RegistryError:
        return False
    return status in (200, 401)


def manifest_digest(address: str, repo: str, ref: str) -> str | None:
    """The digest of ``repo:ref`` (a tag or a digest), or None when the registry has no such manifest."""
    status, headers, _ = _registry_request(
        "HEAD", address, f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
    )
    if status == 404:
        return None
    if status != 200:
        raise RegistryError(f"HEAD {address}/{repo}:{ref}: HTTP {status}")
    digest = headers.get("docker-content-digest")
    if not digest:
        raise RegistryError(f"HEAD {address}/{repo}:{ref}: no Docker-Content-Digest header")
    return digest


def get_manifest(address: str, repo: str, ref: str) -> tuple[str, bytes]:
    """(media type, raw bytes) of a manifest."""
    status, headers, body = _registry_request(
        "GET", address, f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
    )
    if status != 200:
        raise RegistryError(f"GET {address}/{repo}:{ref}: HTTP {status}: {body[:200]!r}")
    media_type = headers.get("content-type") or json.loads(body).get("mediaType", "")
    return str(media_type), body


def get_config(address: str, repo: str, ref: str) -> dict[str, Any]:
    """The image config (the JSON blob the manifest names) of ``repo:ref``."""
    _, raw = get_manifest(address, repo, ref)
    digest = json.loads(raw)["config"]["digest"]
    status, _, body = _registry_request("GET", address, f"/v2/{repo}/blobs/{digest}", timeout=30)
    if status != 200:
        raise RegistryError(f"GET {address}/{repo} blob {digest}: HTTP {status}")
    config: dict[str, Any] = json.loads(body)
    return config


def put_tag(address: str, repo: str, source_ref: str, tag: str) -> str:
    """Points ``repo:tag`` at the manifest ``repo:source_ref`` (same repository, so every blob is there)."""
    media_type, raw = get_manifest(address, repo, source_ref)
    status, headers, body = _registry_request(
        "PUT", address, f"/v2/{repo}/manifests/{tag}", headers={"Content-Type": media_type}, data=raw
    )
    if status not in (200, 201):
        raise RegistryError(f"PUT {address}/{repo}:{tag}: HTTP {status}: {body[:200]!r}")
    return headers.get("docker-content-digest", "")


class LoopbackRegistry:
    """``docker-registry serve`` on 127.0.0.1:<port>, its storage in the cache.

    ``start()`` is idempotent; when a registry already answers on the port (another run's, or one left
    up on purpose) it is reused and not owned, and ``stop()`` leaves it alone. ``stop()`` ends only the
    process this object started, by its PID. The child gets PR_SET_PDEATHSIG: it dies with the thread
    that started it, so a killed run never leaves a registry behind.
    """

    def __init__(self, port: int | None = None, root: Path | None = None) -> None:
        self.port = port if port is not None else default_port()
        self.root = root if root is not None else cache_dir() / "registry"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def owned(self) -> bool:
        """True while this object runs the registry process (False when it reuses another one)."""
        return self.process is not None and self.process.poll() is None

    def config_text(self) -> str:
        data = self.root / "data"
        # No http.debug: that server (with /metrics when prometheus is on) would be another port.
        return (
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n"
            # The secret signs upload state; a fresh one per start is fine for a single instance.
            f"http:\n  addr: {self.address}\n  secret: {secrets.token_hex(16)}\n"
            "health:\n  storagedriver:\n    enabled: false\n"
        )

    def start(self, timeout: float = 20.0) -> LoopbackRegistry:
        if self.owned or answers(self.address):
            return self
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            raise RegistryError("docker-registry is not installed (Debian package docker-registry)")
        from e2e.cluster.localcluster import _die_with_parent

        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.unlink(missing_ok=True)
        with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(self.config_text())
        log_path = self.root / "registry.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not answers(self.address, timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
                raise RegistryError(f"registry on {self.address} did not start:\n{tail}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        from e2e.cluster.localcluster import stop_process

        proc, self.process = self.process, None
        stop_process(proc, timeout)

    def __enter__(self) -> LoopbackRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
