"""Neither binary loads kubernetes_asyncio's generated client (~40 MiB) in the configuration it ships with.

Each binary is built (not run) in a fresh interpreter with the flags and environment of its manifest; the
runtime's own client needs no kubernetes_asyncio, which stays the opt-in fallback for ``auth-provider``
kubeconfigs only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

WORKSPACE_CONTROLLER = """
import json, sys
from kaito.cmd.workspace_controller import build, parse_args
build(parse_args(sys.argv[1:]))
assert "kaito.webhook.server" in sys.modules, "the shipped configuration serves the webhook"
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("kubernetes_asyncio", "cryptography")))))
"""

GPU_PROVISIONER = """
import asyncio, json, sys
from gpu_provisioner.cmd import build_app
from gpu_provisioner.options import parse_options

async def main() -> None:
    app = await build_app(parse_options(sys.argv[1:]), handle_signals=False)
    await app.close()

asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio"))))
"""


def _shipped(manifest: str) -> tuple[list[str], dict[str, str]]:
    """The container's args and literal env values from ``manifests/controllers/<manifest>``."""
    docs = list(yaml.safe_load_all((ROOT / "manifests" / "controllers" / manifest).read_text()))
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
    return [str(a) for a in container.get("args") or []], env


def _loaded_modules(script: str, manifest: str, extra_env: dict[str, str] | None = None) -> list[str]:
    args, env = _shipped(manifest)
    paths = (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH"))
    python_path = os.pathsep.join(p for p in paths if p)
    full_env = {**os.environ, **env, **(extra_env or {}), "PYTHONPATH": python_path}
    # The manifests run in-cluster; without a kubeconfig the connection is only made on first use.
    full_env.pop("KUBECONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def test_workspace_controller_with_webhook_does_not_import_kubernetes_asyncio_client() -> None:
    loaded = _loaded_modules(WORKSPACE_CONTROLLER, "workspace-controller.yaml")
    assert "kubernetes_asyncio.client" not in loaded, loaded
    # Certificates are made by a short-lived process (kaito.webhook.cert_tool): cryptography stays out.
    assert not [m for m in loaded if m.startswith("cryptography")], loaded


def test_gpu_provisioner_does_not_import_kubernetes_asyncio_client() -> None:
    azure = {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZURE_CLUSTER_NAME": "cluster",
        "AZURE_NODE_RESOURCE_GROUP": "mc_rg",
        "LOCATION": "eastus",
    }
    loaded = _loaded_modules(GPU_PROVISIONER, "gpu-provisioner.yaml", azure)
    assert "kubernetes_asyncio.client" not in loaded, loaded
