"""Error classification, the production credential, and the factory the binary uses."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.identity.aio import DefaultAzureCredential

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InvalidRequestError,
    NodeRequest,
    RetryableError,
    UnauthorizedError,
    build_cloud_provider,
)
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider, AKSConfig
from gpu_provisioner.cloudprovider.aks.errors import classify, parse_retry_after
from gpu_provisioner.cloudprovider.local import LocalCloudProvider
from kaito.runtime.client import Client, Transport
from kaito.runtime.client.connection import NativeConnection
from tests.gpu_provisioner.conftest import aks_config_for
from tests.support.armemulator import ArmEmulator


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 31
    assert parse_retry_after("soon") is None


def test_transport_failures_are_retryable_and_bugs_are_not_swallowed() -> None:
    assert isinstance(classify(ServiceRequestError("connection refused"), what="x"), RetryableError)
    assert isinstance(classify(aiohttp.ClientConnectionError("reset"), what="x"), RetryableError)
    assert isinstance(classify(TimeoutError(), what="x"), RetryableError)
    assert classify(KeyError("bug"), what="x") is None


async def test_default_credential_is_defaultazurecredential(metrics: CloudProviderMetrics) -> None:
    provider = AKSCloudProvider(AKSConfig("sub", "rg", "cluster"), metrics)
    try:
        assert isinstance(provider._credential, DefaultAzureCredential)
    finally:
        await provider.close()  # also closes the credential it made


async def test_factory_builds_instrumented_providers(metrics: CloudProviderMetrics) -> None:
    aks = build_cloud_provider("aks", metrics, aks_config=AKSConfig("sub", "rg", "cluster"))
    assert aks.name == "aks"
    assert isinstance(aks.inner, AKSCloudProvider)
    await aks.close()

    client = Client(Transport(NativeConnection("http://127.0.0.1:1"), qps=0, burst=0))
    local = build_cloud_provider("local", metrics, kube_client=client, local_create_delay_s=1.0)
    assert local.name == "local"
    assert isinstance(local.inner, LocalCloudProvider)

    with pytest.raises(InvalidRequestError):
        build_cloud_provider("aks", metrics)
    with pytest.raises(InvalidRequestError):
        build_cloud_provider("local", metrics)


async def test_workload_identity_through_defaultazurecredential(
    arm: ArmEmulator, metrics: CloudProviderMetrics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path, unmodified: config from the chart's env vars, the env the workload-identity
    webhook injects, DefaultAzureCredential exchanging the service-account token at the (emulated)
    Entra ID endpoint, and the bearer token it gets back accepted by (emulated) ARM."""
    for var in (
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "IDENTITY_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    for key, value in arm.client_env(tmp_path / "azure-identity-token").items():
        monkeypatch.setenv(key, value)

    config = AKSConfig.from_env(os.environ, polling_interval_s=0.02)
    assert config.arm_endpoint == arm.url
    provider = AKSCloudProvider(config, metrics)  # no credential injected
    try:
        inst = await provider.create(NodeRequest(name="ws0d0d0d0d0", instance_type="Standard_NC6s_v3"))
        assert inst.provider_id
        await provider.delete("ws0d0d0d0d0")
    finally:
        await provider.close()
    assert arm.token_requests == 1  # cached afterwards


async def test_a_rejected_federated_token_is_final(
    arm: ArmEmulator, metrics: CloudProviderMetrics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("not-the-federated-token")
    for var in (
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "IDENTITY_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", arm.url)
    provider = AKSCloudProvider(aks_config_for(arm), metrics)
    try:
        with pytest.raises(UnauthorizedError, match="AADSTS700213"):
            await provider.get("ws0d0d0d0d0")
    finally:
        await provider.close()
