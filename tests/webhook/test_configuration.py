"""The webhook configuration is scoped to Workspaces and fails closed."""

from __future__ import annotations

import base64

import pytest

from kaito.webhook import ServiceRef, WebhookConfig, client_config, webhook_configuration


def test_configuration_scoped_to_workspaces_and_fails_closed() -> None:
    config = webhook_configuration(b"PEM", client_config(url="https://127.0.0.1:9443/validate-workspace"))
    [webhook] = config["webhooks"]
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["sideEffects"] == "None"
    assert webhook["rules"] == [
        {
            "apiGroups": ["kaito.sh"],
            "apiVersions": ["v1alpha1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["workspaces"],
            "scope": "Namespaced",
        }
    ]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == b"PEM"
    assert webhook["clientConfig"]["url"].endswith("/validate-workspace")


def test_service_reference() -> None:
    ref = ServiceRef(namespace="kaito-system", name="kaito-workspace-webhook")
    assert client_config(service=ref) == {
        "service": {
            "namespace": "kaito-system",
            "name": "kaito-workspace-webhook",
            "port": 443,
            "path": "/validate-workspace",
        }
    }
    assert "kaito-workspace-webhook.kaito-system.svc" in ref.hosts
    with pytest.raises(ValueError):
        client_config()


def test_outage_cannot_wedge_deletion_or_the_controller() -> None:
    config = webhook_configuration(b"PEM", client_config(url="https://127.0.0.1:9443/v"), namespace="ops")
    [webhook] = config["webhooks"]
    expressions = [c["expression"] for c in webhook["matchConditions"]]
    assert "!has(object.metadata.deletionTimestamp)" in expressions
    user = "system:serviceaccount:ops:kaito-workspace-controller"
    assert f"request.userInfo.username != '{user}'" in expressions


def test_webhook_url_from_the_environment_replaces_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_URL", raising=False)
    in_cluster = WebhookConfig.from_env("kaito-system")
    assert in_cluster.url is None and in_cluster.service is not None
    monkeypatch.setenv("WEBHOOK_URL", "https://127.0.0.1:{port}/validate-workspace")
    local = WebhookConfig.from_env("kaito-system")
    assert local.service is None and local.url == "https://127.0.0.1:{port}/validate-workspace"
    # The serving certificate then names the address the apiserver dials.
    assert "127.0.0.1" in local.hosts()
