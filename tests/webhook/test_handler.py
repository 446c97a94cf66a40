"""The AdmissionReview handler over plain HTTP (no cluster, no TLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kaito.catalog import Catalog
from kaito.runtime.client import Client, Transport
from kaito.runtime.client.connection import NativeConnection
from kaito.webhook import WEBHOOK_PATH, WebhookConfig, WebhookServer
from tests.api.samples import inference


@pytest.fixture
async def http(catalog: Catalog) -> AsyncIterator[TestClient[Any, Any]]:
    # These reviews need no apiserver: nothing listens there.
    api = Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0))
    server = WebhookServer(api, catalog, WebhookConfig(namespace="kaito-system"))
    client: TestClient[Any, Any] = TestClient(TestServer(server.app()))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await api.close()


def _review(
    obj: dict[str, Any], operation: str = "CREATE", old: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "abc-123",
            "kind": {"group": "kaito.sh", "version": "v1alpha1", "kind": "Workspace"},
            "operation": operation,
            "namespace": "default",
            "name": obj["metadata"]["name"],
            "object": obj,
            "oldObject": old,
        },
    }


async def test_allows_valid(http: TestClient[Any, Any]) -> None:
    resp = await http.post(WEBHOOK_PATH, json=_review(inference()))
    body = await resp.json()
    assert resp.status == 200
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    assert body["response"] == {"uid": "abc-123", "allowed": True}


async def test_denies_with_field_message(http: TestClient[Any, Any]) -> None:
    obj = inference()
    obj["inference"]["preset"]["name"] = "nope"
    body = await (await http.post(WEBHOOK_PATH, json=_review(obj))).json()
    response = body["response"]
    assert response["allowed"] is False and response["uid"] == "abc-123"
    assert response["status"]["code"] == 422
    assert response["status"]["message"].startswith("inference.preset.name: unknown preset 'nope'")


async def test_other_kinds_and_delete_pass(http: TestClient[Any, Any]) -> None:
    review = _review(inference(), operation="DELETE")
    body = await (await http.post(WEBHOOK_PATH, json=review)).json()
    assert body["response"]["allowed"] is True
    review = _review(inference())
    review["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    body = await (await http.post(WEBHOOK_PATH, json=review)).json()
    assert body["response"]["allowed"] is True


async def test_malformed_request(http: TestClient[Any, Any]) -> None:
    resp = await http.post(WEBHOOK_PATH, data=b"not json")
    assert resp.status == 400
    resp = await http.get("/healthz")
    assert resp.status == 200
