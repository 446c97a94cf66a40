"""Where requests go and how they authenticate.

Two implementations of :class:`Connection`:

* :class:`NativeConnection` (the default) reads a kubeconfig or the in-cluster service account itself and
  talks through its own aiohttp session. It exists for memory: importing ``kubernetes_asyncio.client``
  loads every generated model and API class, about 40 MiB of resident memory, which the workspace
  controller's 80 MiB budget cannot afford. It supports server/CA/client certificates (files or inline
  data), bearer tokens and token files (re-read every minute, as client-go does for projected tokens),
  ``insecure-skip-tls-verify``, ``tls-server-name`` and ``exec`` credential plugins that return tokens.
* :class:`ApiClientConnection` sends requests through a kubernetes_asyncio ``ApiClient`` (its session,
  TLS setup and credential refresh, e.g. legacy ``auth-provider`` entries). :func:`connect` falls back to
  it for kubeconfigs the native loader does not support.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import ssl
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import yaml

if TYPE_CHECKING:
    from kubernetes_asyncio import client as k8s_client

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0


class UnsupportedKubeconfigError(ValueError):
    """The kubeconfig uses a feature only the kubernetes_asyncio loader handles."""


class Connection(Protocol):
    """An endpoint plus credentials. ``session()`` must be called from the event loop."""

    base_url: str

    async def session(self) -> aiohttp.ClientSession: ...

    async def auth_headers(self) -> dict[str, str]: ...

    def request_kwargs(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def _b64_to_tempfile(data: str, suffix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return path


def _resolve(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


class NativeConnection:
    """A connection configured without kubernetes_asyncio (see the module docstring)."""

    def __init__(
        self,
        server: str,
        *,
        ca_file: str | None = None,
        ca_data: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        cert_data: str | None = None,
        key_data: str | None = None,
        token: str | None = None,
        token_file: str | None = None,
        exec_config: dict[str, Any] | None = None,
        insecure: bool = False,
        tls_server_name: str | None = None,
        pool_size: int = 100,
    ) -> None:
        self.base_url = server.rstrip("/")
        self._token = token
        self._token_file = token_file
        self._token_read_at = 0.0
        self._exec = exec_config
        self._exec_expiry: float | None = None
        self._exec_lock = asyncio.Lock()
        self._tls_server_name = tls_server_name
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._ssl = self._ssl_context(ca_file, ca_data, cert_file, key_file, cert_data, key_data, insecure)

    @staticmethod
    def _ssl_context(
        ca_file: str | None,
        ca_data: str | None,
        cert_file: str | None,
        key_file: str | None,
        cert_data: str | None,
        key_data: str | None,
        insecure: bool,
    ) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=ca_file)
        if ca_data:
            ctx.load_verify_locations(cadata=base64.b64decode(ca_data).decode())
        temps: list[str] = []
        try:
            if cert_data:
                cert_file = _b64_to_tempfile(cert_data, ".crt")
                temps.append(cert_file)
            if key_data:
                key_file = _b64_to_tempfile(key_data, ".key")
                temps.append(key_file)
            if cert_file:
                ctx.load_cert_chain(cert_file, keyfile=key_file)
        finally:
            # The key material is loaded into the context; do not leave it on disk.
            for path in temps:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    @classmethod
    def from_kubeconfig(cls, path: str | Path | None = None, context: str | None = None) -> NativeConnection:
        """Loads ``path`` (default: the first file in ``$KUBECONFIG``, else ``~/.kube/config``)."""
        if path is None:
            env = os.environ.get("KUBECONFIG", "")
            candidates = [p for p in env.split(os.pathsep) if p] or [str(Path.home() / ".kube" / "config")]
            path = next((p for p in candidates if Path(p).expanduser().exists()), candidates[0])
        file = Path(path).expanduser()
        config = yaml.safe_load(file.read_text()) or {}
        base = file.parent
        ctx_name = context or config.get("current-context")
        contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
        if ctx_name not in contexts:
            raise ValueError(f"context {ctx_name!r} not found in {file}")
        ctx = contexts[ctx_name]
        clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
        users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
        cluster = clusters.get(ctx.get("cluster"), {})
        user = users.get(ctx.get("user"), {})
        if "auth-provider" in user or "username" in user:
            raise UnsupportedKubeconfigError("auth-provider/basic auth need the kubernetes_asyncio loader")
        exec_config = user.get("exec")
        if exec_config is not None:
            exec_config = {**exec_config, "_base": str(base)}
        return cls(
            str(cluster["server"]),
            ca_file=_resolve(base, cluster.get("certificate-authority")),
            ca_data=cluster.get("certificate-authority-data"),
            cert_file=_resolve(base, user.get("client-certificate")),
            key_file=_resolve(base, user.get("client-key")),
            cert_data=user.get("client-certificate-data"),
            key_data=user.get("client-key-data"),
            token=user.get("token"),
            token_file=_resolve(base, user.get("tokenFile")),
            exec_config=exec_config,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            tls_server_name=cluster.get("tls-server-name"),
        )

    @classmethod
    def in_cluster(cls) -> NativeConnection:
        """The pod's service account: ``KUBERNETES_SERVICE_HOST``/``PORT``, its CA and token file."""
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if ":" in host:
            host = f"[{host}]"
        return cls(f"https://{host}:{port}", ca_file=str(SA_DIR / "ca.crt"), token_file=str(SA_DIR / "token"))

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=self._ssl),
                read_bufsize=2**21,  # watch lines can carry objects up to etcd's 1.5 MiB limit
            )
        return self._session

    async def _exec_token(self) -> str | None:
        assert self._exec is not None
        async with self._exec_lock:
            if self._token and (self._exec_expiry is None or time.time() < self._exec_expiry - 60):
                return self._token
            env = dict(os.environ)
            for item in self._exec.get("env") or []:
                env[str(item["name"])] = str(item["value"])
            command = str(self._exec["command"])
            if "/" in command and not os.path.isabs(command):
                command = str(Path(self._exec["_base"]) / command)
            proc = await asyncio.create_subprocess_exec(
                command,
                *[str(a) for a in self._exec.get("args") or []],
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"exec credential plugin {command} failed with status {proc.returncode}")
            status = (json.loads(out) or {}).get("status") or {}
            if not status.get("token"):
                raise UnsupportedKubeconfigError("exec plugin returned no token")
            self._token = str(status["token"])
            expiry = status.get("expirationTimestamp")
            self._exec_expiry = (
                datetime.fromisoformat(str(expiry).replace("Z", "+00:00")).timestamp() if expiry else None
            )
            return self._token

    async def auth_headers(self) -> dict[str, str]:
        token = self._token
        if self._exec is not None:
            token = await self._exec_token()
        elif self._token_file and time.monotonic() - self._token_read_at > TOKEN_REREAD_SECONDS:
            text = await asyncio.to_thread(Path(self._token_file).read_text)
            token = self._token = text.strip()
            self._token_read_at = time.monotonic()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request_kwargs(self) -> dict[str, Any]:
        return {"server_hostname": self._tls_server_name} if self._tls_server_name else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ApiClientConnection:
    """Requests through a kubernetes_asyncio ``ApiClient`` (its session, TLS and credential refresh)."""

    def __init__(self, api_client: k8s_client.ApiClient, owns: bool = False) -> None:
        self.api_client = api_client
        self.base_url = str(api_client.configuration.host).rstrip("/")
        self._owns = owns

    async def session(self) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = self.api_client.rest_client.pool_manager
        return session

    async def auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        # Fills in (and refreshes) the bearer token exactly as the generated API methods do.
        await self.api_client.update_params_for_auth(headers, query, ["BearerToken"])
        return headers

    def request_kwargs(self) -> dict[str, Any]:
        rest = self.api_client.rest_client
        kwargs: dict[str, Any] = {}
        if getattr(rest, "server_hostname", None):
            kwargs["server_hostname"] = rest.server_hostname
        if getattr(rest, "proxy", None):
            kwargs["proxy"] = rest.proxy
        if getattr(rest, "proxy_headers", None):
            kwargs["proxy_headers"] = rest.proxy_headers
        return kwargs

    async def close(self) -> None:
        if self._owns:
            await self.api_client.close()


async def connect(
    kubeconfig: str | Path | None = None, context: str | None = None, *, use_kubernetes_asyncio: bool = False
) -> Connection:
    """A connection for ``kubeconfig`` (or ``$KUBECONFIG``/``~/.kube/config``), or in-cluster when no
    kubeconfig is given or found and ``KUBERNETES_SERVICE_HOST`` is set. Uses :class:`NativeConnection`
    unless ``use_kubernetes_asyncio`` is set or the kubeconfig needs kubernetes_asyncio's loader."""
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    in_cluster = not explicit and not default.exists() and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if not use_kubernetes_asyncio:
        try:
            return (
                NativeConnection.in_cluster()
                if in_cluster
                else NativeConnection.from_kubeconfig(kubeconfig, context)
            )
        except UnsupportedKubeconfigError:
            pass
    from kaito.runtime.client.config import load_api_client

    return ApiClientConnection(await load_api_client(kubeconfig, context), owns=True)
