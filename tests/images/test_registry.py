"""Registry API calls of the image build against a registry that wants a login, as ACR does: the
credentials ``buildah login`` stored buy a Bearer token from the registry's token service."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from e2e.images import build_all
from e2e.images.build import BuildError
from e2e.images.registry import RegistryError, manifest_digest

DIGEST = "sha256:" + "0" * 64


class TokenRegistry(BaseHTTPRequestHandler):
    """Manifests for a Bearer token only, tokens for user:secret only."""

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        basic = "Basic " + base64.b64encode(b"user:secret").decode()
        if self.path.startswith("/token?") and "scope=repository%3Akaito%2Fx%3Apull" in self.path:
            if self.headers.get("Authorization") == basic:
                self._send(200, {"Content-Type": "application/json"}, json.dumps({"token": "t1"}).encode())
            else:
                self._send(401, {})
        else:
            self._send(404, {})

    def do_HEAD(self) -> None:
        if self.headers.get("Authorization") == "Bearer t1":
            self._send(200, {"Docker-Content-Digest": DIGEST})
            return
        assert isinstance(self.server, ThreadingHTTPServer)
        realm = f"http://127.0.0.1:{self.server.server_port}/token"
        challenge = f'Bearer realm="{realm}",service="registry",scope="repository:kaito/x:pull"'
        self._send(401, {"WWW-Authenticate": challenge})


@pytest.fixture
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def login(path: Path, registry: str, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))


def test_stored_credentials_buy_a_token(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    login(tmp_path / "auth.json", registry, "user", "secret")
    assert manifest_digest(registry, "kaito/x", "1") == DIGEST


def test_without_a_login_the_error_says_how(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with pytest.raises(RegistryError, match=f"no credentials for {registry}: `buildah login {registry}`"):
        manifest_digest(registry, "kaito/x", "1")


def test_registry_is_a_host_not_a_path() -> None:
    with pytest.raises(BuildError, match=r"myacr.azurecr.io/kaito/<name>"):
        build_all("myacr.azurecr.io/kaito")
