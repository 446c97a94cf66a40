"""The admission webhook against the real apiserver, served in-process on 127.0.0.1.

The apiserver runs on this host, so the ValidatingWebhookConfiguration uses
``clientConfig.url: https://127.0.0.1:<port>/validate-workspace``; in a cluster it is a Service.
kubectl runs in a thread: it blocks, and the webhook it calls lives on this event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import yaml

from e2e.cluster import LocalCluster
from kaito.catalog import load_catalog
from kaito.runtime.client import Client
from kaito.webhook import CONFIGURATION_NAME, WebhookConfig, WebhookServer, delete_configuration
from tests.api.cluster_support import apply, install_crds
from tests.api.samples import inference, seed
from tests.webhook.test_tuning_config import QLORA

pytestmark = pytest.mark.cluster

SECRET = "workspace-webhook-cert"


async def _apply(cluster: LocalCluster, namespace: str, obj: dict[str, Any] | str) -> tuple[int, str]:
    return await asyncio.to_thread(apply, cluster, namespace, obj)


async def _kubectl(cluster: LocalCluster, *args: str, input: str | None = None) -> tuple[int, str]:
    proc = await asyncio.to_thread(cluster.kubectl, *args, check=False, input=input)
    return proc.returncode, proc.stdout + proc.stderr


def _config(namespace: str, **overrides: Any) -> WebhookConfig:
    return WebhookConfig(namespace=namespace, port=0, bind_host="127.0.0.1", **overrides)


@pytest.fixture(scope="module")
async def system_ns(cluster: LocalCluster, kube_client: Client) -> AsyncIterator[str]:
    await asyncio.to_thread(install_crds, cluster)
    name = f"t-kaito-system-{uuid.uuid4().hex[:6]}"
    await _kubectl(cluster, "create", "namespace", name)
    yield name
    # Never leave a Fail-policy webhook pointing at a dead port behind for other tests.
    await delete_configuration(kube_client)
    await _kubectl(cluster, "delete", "namespace", name, "--wait=false")


@pytest.fixture
async def webhook(kube_client: Client, system_ns: str) -> AsyncIterator[WebhookServer]:
    server = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def ws_ns(cluster: LocalCluster) -> AsyncIterator[str]:
    name = f"t-wh-{uuid.uuid4().hex[:8]}"
    await _kubectl(cluster, "create", "namespace", name)
    yield name
    await _kubectl(cluster, "delete", "namespace", name, "--wait=false")


def _named(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["name"] = f"w-{uuid.uuid4().hex[:8]}"
    return obj


def _with(base: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    obj = base()
    change(obj)
    return _named(obj)


DENIED: list[tuple[str, Callable[[], dict[str, Any]], list[str]]] = [
    (
        "unknown-preset",
        lambda: _with(inference, lambda o: o["inference"]["preset"].update(name="phi-5")),
        ["inference.preset.name: unknown preset 'phi-5'", "supported presets:"],
    ),
    (
        "unknown-instance-type",
        lambda: _with(inference, lambda o: o["resource"].update(instanceType="Standard_NC6s_v4")),
        ["resource.instanceType: unknown instance type 'Standard_NC6s_v4'", "did you mean: Standard_NC6s_v3"],
    ),
    (
        "insufficient-per-gpu-memory",
        lambda: _with(inference, lambda o: o["inference"]["preset"].update(name="phi-4")),
        [
            "resource.instanceType: insufficient per-GPU memory",
            "instance types that fit: Standard_NC24ads_A100_v4",
        ],
    ),
    (
        "insufficient-gpu-count",
        lambda: _with(
            inference,
            lambda o: (
                o["inference"]["preset"].update(name="falcon-40b"),
                o["resource"].update(instanceType="Standard_NC24ads_A100_v4", count=2),
            ),
        ),
        [
            "insufficient number of GPUs: falcon-40b needs 2 GPU(s) on one node",
            "multi-node inference is not supported",
        ],
    ),
    (
        "method-unsupported",
        lambda: _with(seed, lambda o: o["tuning"]["preset"].update(name="mistral-7b-instruct")),
        ["tuning.method: preset 'mistral-7b-instruct' does not support 'qlora' tuning"],
    ),
    (
        "private-preset-without-image",
        lambda: _with(inference, lambda o: o["inference"]["preset"].update(name="llama-2-7b-chat")),
        ["inference.preset.presetOptions.image: preset 'llama-2-7b-chat' is private"],
    ),
    (
        "ssrf-url",
        lambda: _with(seed, lambda o: o["tuning"]["input"].update(urls=["http://169.254.169.254/latest"])),
        ["tuning.input.urls[0]:", "cloud metadata or host endpoint"],
    ),
    (
        "missing-tuning-configmap",
        lambda: _with(seed, lambda o: o["tuning"].update(config="nope")),
        ["tuning.config: ConfigMap 'nope' not found"],
    ),
    (
        "lora-with-4bit-configmap",
        lambda: _with(seed, lambda o: (o["tuning"].update(config="qlora-config", method="lora"),)),
        ["tuning.config (training_config.yaml)", "method lora loads the model unquantised"],
    ),
]


async def test_webhook_admits_valid_and_denies_catalog_errors(
    cluster: LocalCluster, webhook: WebhookServer, ws_ns: str
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "qlora-config"},
        "data": {"training_config.yaml": QLORA},
    }
    code, out = await _apply(cluster, ws_ns, config_map)
    assert code == 0, out
    for obj in (_named(seed()), _named(inference())):
        code, out = await _apply(cluster, ws_ns, obj)
        assert code == 0, out
    ok = _named(seed())
    ok["tuning"]["config"] = "qlora-config"
    code, out = await _apply(cluster, ws_ns, ok)
    assert code == 0, out

    failures = []
    for case, build, expected in DENIED:
        code, out = await _apply(cluster, ws_ns, build())
        if code == 0:
            failures.append(f"{case}: accepted")
            continue
        assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in out, out
        failures += [f"{case}: {text!r} not in {out}" for text in expected if text not in out]
    assert failures == []


async def _ca_in_configuration(cluster: LocalCluster) -> bytes:
    code, out = await _kubectl(
        cluster, "get", "validatingwebhookconfiguration", CONFIGURATION_NAME, "-o", "yaml"
    )
    assert code == 0, out
    config = yaml.safe_load(out)
    return base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"])


async def test_restart_reuses_certificate(
    cluster: LocalCluster, kube_client: Client, system_ns: str, ws_ns: str
) -> None:
    first = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await first.start()
    ca = first.ca_bundle
    await first.stop()

    second = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await second.start()
    try:
        assert second.ca_bundle == ca
        assert await _ca_in_configuration(cluster) == ca
        code, out = await _apply(cluster, ws_ns, _named(inference()))
        assert code == 0, out
    finally:
        await second.stop()


async def test_rotation_keeps_ca_bundle_in_step(
    cluster: LocalCluster, kube_client: Client, system_ns: str, ws_ns: str
) -> None:
    # A serving cert that is always "near expiry": every check re-issues it under the same CA.
    config = _config(system_ns, validity=timedelta(hours=1), rotate_before=timedelta(days=400))
    server = WebhookServer(kube_client, load_catalog(), config)
    await server.start()
    try:
        code, out = await _kubectl(
            cluster, "get", "secret", SECRET, "-n", system_ns, "-o", "jsonpath={.data.tls\\.crt}"
        )
        assert code == 0, out
        before = out
        assert await server.check_rotation() is True
        code, after = await _kubectl(
            cluster, "get", "secret", SECRET, "-n", system_ns, "-o", "jsonpath={.data.tls\\.crt}"
        )
        assert after != before
        assert await _ca_in_configuration(cluster) == server.ca_bundle
        code, out = await _apply(cluster, ws_ns, _named(inference()))
        assert code == 0, out
    finally:
        await server.stop()


async def test_outage_blocks_only_workspace_writes(
    cluster: LocalCluster, kube_client: Client, system_ns: str, ws_ns: str
) -> None:
    server = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await server.start()
    existing = _named(inference())
    code, out = await _apply(cluster, ws_ns, existing)
    assert code == 0, out
    finalized = _named(inference())
    finalized["metadata"]["finalizers"] = ["kaito.sh/test-finalizer"]
    code, out = await _apply(cluster, ws_ns, finalized)
    assert code == 0, out
    await server.stop()

    # Deletion cannot be wedged: the finalizer of a Workspace being deleted comes off, and the
    # controller's own metadata writes go through, while the webhook is down.
    name = finalized["metadata"]["name"]
    code, out = await _kubectl(cluster, "delete", "workspace", name, "-n", ws_ns, "--wait=false")
    assert code == 0, out
    controller = f"system:serviceaccount:{system_ns}:kaito-workspace-controller"
    # As the controller's user (system:masters only so that RBAC, which runs first, lets it through).
    code, out = await _kubectl(
        cluster,
        "annotate",
        "workspace",
        existing["metadata"]["name"],
        "-n",
        ws_ns,
        f"--as={controller}",
        "--as-group=system:masters",
        "kaito.sh/revision=1",
    )
    assert code == 0, out
    code, out = await _kubectl(
        cluster,
        "patch",
        "workspace",
        name,
        "-n",
        ws_ns,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
    assert code == 0, out
    code, out = await _kubectl(cluster, "get", "workspace", name, "-n", ws_ns)
    assert code != 0 and "NotFound" in out, out
    # Anyone else's spec change still needs the webhook.
    code, out = await _kubectl(
        cluster,
        "annotate",
        "workspace",
        existing["metadata"]["name"],
        "-n",
        ws_ns,
        "someone=else",
    )
    assert code != 0 and "failed calling webhook" in out, out

    code, out = await _apply(cluster, ws_ns, _named(inference()))
    assert code != 0 and "failed calling webhook" in out, out
    # Everything else keeps working: other kinds, and deleting Workspaces.
    code, out = await _apply(
        cluster, ws_ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "during-outage"}}
    )
    assert code == 0, out
    # The controller's status writes go to workspaces/status, which the webhook does not match.
    code, out = await _kubectl(
        cluster,
        "patch",
        "workspace",
        existing["metadata"]["name"],
        "-n",
        ws_ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"state":"Pending"}}',
    )
    assert code == 0, out
    code, out = await _kubectl(cluster, "delete", "workspace", existing["metadata"]["name"], "-n", ws_ns)
    assert code == 0, out

    restarted = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await restarted.start()
    try:
        code, out = await _apply(cluster, ws_ns, _named(inference()))
        assert code == 0, out
    finally:
        await restarted.stop()


async def test_replica_restart_changes_only_the_ca_bundle(
    cluster: LocalCluster, kube_client: Client, system_ns: str, ws_ns: str
) -> None:
    installer = WebhookServer(kube_client, load_catalog(), _config(system_ns))
    await installer.start()
    url = installer.url
    await installer.stop()
    # What an operator tunes on the installed configuration.
    patch = [
        {"op": "replace", "path": "/webhooks/0/timeoutSeconds", "value": 7},
        {"op": "add", "path": "/metadata/labels", "value": {"team": "platform"}},
    ]
    code, out = await _kubectl(
        cluster,
        "patch",
        "validatingwebhookconfiguration",
        CONFIGURATION_NAME,
        "--type=json",
        "-p",
        json.dumps(patch),
    )
    assert code == 0, out
    # A replica as a cluster runs it (WebhookConfig.from_env): it does not own the configuration, and a new
    # Secret means a new CA.
    config = _config(system_ns, secret_name=f"other-cert-{uuid.uuid4().hex[:6]}", manage_configuration=False)
    config.port = int(url.split(":")[2].split("/")[0])
    replica = WebhookServer(kube_client, load_catalog(), config)
    await replica.start()
    try:
        code, out = await _kubectl(
            cluster, "get", "validatingwebhookconfiguration", CONFIGURATION_NAME, "-o", "yaml"
        )
        assert code == 0, out
        installed = yaml.safe_load(out)
        assert base64.b64decode(installed["webhooks"][0]["clientConfig"]["caBundle"]) == replica.ca_bundle
        assert installed["webhooks"][0]["timeoutSeconds"] == 7
        assert installed["metadata"]["labels"] == {"team": "platform"}
        code, out = await _apply(cluster, ws_ns, _named(inference()))
        assert code == 0, out
    finally:
        await replica.stop()


def test_a_cluster_replica_does_not_own_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_MANAGE_CONFIGURATION", raising=False)
    monkeypatch.delenv("WEBHOOK_URL", raising=False)
    assert WebhookConfig.from_env("kaito-system").manage_configuration is False
    # Served by URL (the local apiserver) nothing installs the configuration: the replica does.
    monkeypatch.setenv("WEBHOOK_URL", "https://127.0.0.1:{port}/validate-workspace")
    assert WebhookConfig.from_env("kaito-system").manage_configuration is True
