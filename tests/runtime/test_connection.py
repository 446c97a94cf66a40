"""The built-in kubeconfig loader: tokens, token files, exec plugins, contexts, in-cluster."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.runtime import Client, kinds
from kaito.runtime.client import Transport
from kaito.runtime.client.connection import (
    ApiClientConnection,
    NativeConnection,
    UnsupportedKubeconfigError,
    connect,
)

from .fakeapi import FakeApiServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    await server.start()
    yield server
    await server.stop()


def write_kubeconfig(path: Path, server: str, user: dict[str, Any], context: str = "x") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [
                    {"name": "x", "context": {"cluster": "c", "user": "u"}},
                    {"name": "other", "context": {"cluster": "c", "user": "u"}},
                ],
                "current-context": context,
            }
        )
    )
    return path


async def list_with(conn: NativeConnection) -> None:
    client = Client(Transport(conn, qps=0, burst=0))
    try:
        await client.list(kinds.CONFIGMAP, "ns")
    finally:
        await client.close()


async def test_static_token_and_token_file(fake: FakeApiServer, tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kc", fake.base_url, {"token": "static"})
    await list_with(NativeConnection.from_kubeconfig(kc))
    (tmp_path / "tok").write_text("from-file\n")
    kc2 = write_kubeconfig(tmp_path / "kc2", fake.base_url, {"tokenFile": "tok"})
    await list_with(NativeConnection.from_kubeconfig(kc2, context="other"))
    assert fake.auth_headers == ["Bearer static", "Bearer from-file"]


async def test_exec_plugin_token_is_cached(fake: FakeApiServer, tmp_path: Path) -> None:
    script = tmp_path / "cred.py"
    counter = tmp_path / "calls"
    script.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "p.write_text(str(int(p.read_text()) + 1) if p.exists() else '1')\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': 'exec-token', 'expirationTimestamp': '2999-01-01T00:00:00Z'}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
        }
    }
    conn = NativeConnection.from_kubeconfig(write_kubeconfig(tmp_path / "kc", fake.base_url, user))
    client = Client(Transport(conn, qps=0, burst=0))
    try:
        await client.list(kinds.CONFIGMAP, "ns")
        await client.list(kinds.CONFIGMAP, "ns")
    finally:
        await client.close()
    assert fake.auth_headers == ["Bearer exec-token", "Bearer exec-token"]
    assert counter.read_text() == "1"


async def test_auth_provider_falls_back_to_kubernetes_asyncio(tmp_path: Path) -> None:
    user = {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}}
    kc = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", user)
    with pytest.raises(UnsupportedKubeconfigError):
        NativeConnection.from_kubeconfig(kc)
    with pytest.raises(ValueError):
        NativeConnection.from_kubeconfig(kc, context="missing")
    conn = await connect(write_kubeconfig(tmp_path / "kc2", "https://127.0.0.1:1", {"token": "t"}))
    assert isinstance(conn, NativeConnection)
    await conn.close()
    forced = await connect(tmp_path / "kc2", use_kubernetes_asyncio=True)
    assert isinstance(forced, ApiClientConnection)
    assert await forced.auth_headers() == {"authorization": "Bearer t"}
    await forced.close()


def test_in_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.setattr(
        "kaito.runtime.client.connection.NativeConnection._ssl_context", staticmethod(lambda *a: None)
    )
    conn = NativeConnection.in_cluster()
    assert conn.base_url == "https://10.0.0.1:6443"
    assert json.dumps(conn.request_kwargs()) == "{}"
