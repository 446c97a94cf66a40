"""Credentials for a registry from a `.dockerconfigjson` (the kubernetes.io/dockerconfigjson secret)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


_DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def _normalize(key: str) -> str:
    key = key.strip()
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0].lower()


def find_credentials(config_path: str | Path, registry: str) -> Credentials | None:
    """The username and password stored for registry (host[:port]), or None if none is stored."""
    try:
        data = json.loads(Path(config_path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read docker config {config_path}: {err}") from None
    auths = data.get("auths", {}) if isinstance(data, dict) else {}
    if not isinstance(auths, dict):
        raise ValueError(f"{config_path}: 'auths' is not an object")
    wanted = {registry.lower()}
    if _normalize(registry) in {_normalize(k) for k in _DOCKER_HUB_KEYS}:
        wanted |= {_normalize(k) for k in _DOCKER_HUB_KEYS}
    for key, entry in auths.items():
        if _normalize(key) not in wanted or not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
        encoded = entry.get("auth")
        if encoded:
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError(
                    f"{config_path}: auths[{key!r}].auth is not base64 of user:password"
                ) from None
            return Credentials(user, password)
    return None
