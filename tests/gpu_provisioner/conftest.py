"""Fixtures for the cloud-layer tests: the ARM emulator, providers wired to it, and leak checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from gpu_provisioner.cloudprovider import CloudProviderMetrics, InstrumentedCloudProvider
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider, AKSConfig
from gpu_provisioner.cloudprovider.retry import RetrySettings
from tests.support.armemulator import (
    ArmEmulator,
    EmulatorSettings,
    RecordingNodeRegistrar,
    StaticTokenCredential,
)

FAST_RETRY = RetrySettings(attempts=4, initial_backoff_s=0.05, max_backoff_s=0.2, max_retry_after_s=2.0)


def aks_config_for(arm: ArmEmulator, **overrides: object) -> AKSConfig:
    s = arm.settings
    values: dict[str, object] = {
        "subscription_id": s.subscription_id,
        "resource_group": s.resource_group,
        "cluster_name": s.cluster_name,
        "location": s.location,
        "arm_endpoint": arm.url,
        "ca_bundle": arm.ca_path,
        "polling_interval_s": 0.02,
        "sdk_retries": 3,
        "sdk_backoff_factor_s": 0.02,
        "retry": FAST_RETRY,
        "operation_timeout_s": 30.0,
        "vm_lookup_timeout_s": 2.0,
    }
    values.update(overrides)
    return AKSConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def metrics() -> CloudProviderMetrics:
    return CloudProviderMetrics(CollectorRegistry())


@pytest.fixture
async def arm() -> AsyncIterator[ArmEmulator]:
    """An emulator recording Nodes in memory; a test must leave no pool and no Node behind."""
    emulator = ArmEmulator(
        EmulatorSettings(create_duration_s=0.1, delete_duration_s=0.05), nodes=RecordingNodeRegistrar()
    )
    await emulator.start()
    try:
        yield emulator
        await emulator.wait_idle()
        assert emulator.pools == {}, f"leaked agent pools: {sorted(emulator.pools)}"
        assert isinstance(emulator.nodes, RecordingNodeRegistrar)
        assert emulator.nodes.nodes == {}, f"leaked nodes: {sorted(emulator.nodes.nodes)}"
    finally:
        await emulator.stop()


@pytest.fixture
async def aks(arm: ArmEmulator, metrics: CloudProviderMetrics) -> AsyncIterator[InstrumentedCloudProvider]:
    provider = InstrumentedCloudProvider(
        AKSCloudProvider(aks_config_for(arm), metrics, credential=StaticTokenCredential()), metrics
    )
    try:
        yield provider
    finally:
        await provider.close()
