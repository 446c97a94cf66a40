"""The AKS provider under ARM's failure modes: throttling, 5xx, lost responses, quota, slow and failed
long-running operations, pools vanishing, restarts mid-create. Never a duplicate pool, never a leak."""

from __future__ import annotations

import asyncio
import time

import pytest

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InstanceNotFoundError,
    InstrumentedCloudProvider,
    InsufficientCapacityError,
    NodeRequest,
    QuotaExceededError,
    RetryableError,
    ThrottledError,
)
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider
from gpu_provisioner.cloudprovider.retry import RetrySettings
from tests.gpu_provisioner.conftest import FAST_RETRY, aks_config_for
from tests.support.armemulator import (
    ArmEmulator,
    ArmError,
    Fault,
    RecordingNodeRegistrar,
    StaticTokenCredential,
    quota_exceeded,
    server_error,
    throttle,
)

A100 = "Standard_NC24ads_A100_v4"
MACHINE = "ws0a1b2c3d4"
POOL_PATH = r"/agentPools/ws0a1b2c3d4$"


def _request(name: str = MACHINE) -> NodeRequest:
    return NodeRequest(name=name, instance_type=A100)


def _retries(metrics: CloudProviderMetrics, layer: str, reason: str, method: str = "create") -> float:
    value = metrics.registry.get_sample_value(
        "gpu_provisioner_cloudprovider_retries_total",
        {"method": method, "provider": "aks", "layer": layer, "reason": reason},
    )
    return value or 0.0


def _provider(
    arm: ArmEmulator, metrics: CloudProviderMetrics, **overrides: object
) -> InstrumentedCloudProvider:
    inner = AKSCloudProvider(aks_config_for(arm, **overrides), metrics, credential=StaticTokenCredential())
    return InstrumentedCloudProvider(inner, metrics)


async def test_throttled_put_honours_retry_after_and_creates_once(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    arm.inject(throttle("PUT", POOL_PATH, times=2, retry_after=1))
    start = time.monotonic()
    inst = await aks.create(_request())
    elapsed = time.monotonic() - start
    assert inst.provider_id
    assert elapsed >= 2.0, "two Retry-After: 1 answers were not honoured"
    assert arm.count("PUT") == 3
    assert arm.pools_created == 1
    assert _retries(metrics, "sdk", "429") == 2
    await aks.delete(MACHINE)


async def test_a_429_storm_outlasting_the_sdk_is_retried_by_the_operation_policy(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    # The SDK re-sends 3 times; the 5th 429 reaches our policy, which waits Retry-After and starts over.
    arm.inject(throttle(None, r"/agentPools/", times=5, retry_after=0.05))
    inst = await aks.create(_request())
    assert inst.provider_id
    assert arm.pools_created == 1
    assert _retries(metrics, "sdk", "429") == 4
    assert _retries(metrics, "operation", "ThrottledError") == 1
    await aks.delete(MACHINE)


async def test_an_endless_429_storm_ends_in_a_bounded_throttled_error(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    arm.inject(throttle("GET", POOL_PATH, times=None, retry_after=0.01))
    with pytest.raises(ThrottledError) as info:
        await aks.create(_request())
    assert info.value.retry_after == pytest.approx(0.01)
    # attempts x (1 + sdk retries) GETs, and not a single PUT.
    assert arm.count("GET", POOL_PATH) == FAST_RETRY.attempts * 4
    assert arm.count("PUT") == 0
    assert _retries(metrics, "operation", "ThrottledError") == FAST_RETRY.attempts - 1


async def test_500s_on_every_kind_of_request_delay_but_do_not_duplicate(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    arm.inject(
        server_error("GET", POOL_PATH, times=2),
        server_error("PUT", POOL_PATH, times=1),
        server_error("GET", r"/operations/", times=2),
        server_error("GET", r"/virtualMachineScaleSets", times=1),
    )
    inst = await aks.create(_request())
    assert inst.provider_id
    assert arm.pools_created == 1
    assert _retries(metrics, "sdk", "500") == 6
    arm.inject(server_error("DELETE", POOL_PATH, times=2))
    await aks.delete(MACHINE)


async def test_a_lost_put_response_is_adopted_not_duplicated(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    # ARM creates the pool but the client sees a 500; the SDK re-sends the PUT and gets 409 in progress.
    arm.inject(server_error("PUT", POOL_PATH, times=1, after_apply=True))
    inst = await aks.create(_request())
    assert inst.provider_id
    assert arm.count("PUT") == 2
    assert [s for m, _, s in arm.requests if m == "PUT"] == [500, 409]
    assert arm.pools_created == 1
    await aks.delete(MACHINE)


async def test_quota_error_is_final_with_the_clouds_message(
    aks: InstrumentedCloudProvider, arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    arm.inject(quota_exceeded())
    with pytest.raises(QuotaExceededError) as info:
        await aks.create(_request())
    assert info.value.code == "QuotaExceeded"
    assert "exceeding approved standardNCADSA100v4Family Cores quota" in info.value.message
    assert arm.count("PUT") == 1  # final: not retried
    assert arm.pools == {}
    labels = {"method": "create", "provider": "aks", "error": "QuotaExceededError"}
    assert metrics.registry.get_sample_value("gpu_provisioner_cloudprovider_errors_total", labels) == 1


async def test_quota_failure_of_the_long_running_operation_is_final_and_cleaned_up(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    message = (
        "Operation could not be completed as it results in exceeding approved Total Regional Cores quota."
    )
    arm.create_failures[A100] = ArmError(200, "QuotaExceeded", message)
    with pytest.raises(QuotaExceededError, match="Total Regional Cores quota"):
        await aks.create(_request())
    # The pool AKS left in state Failed was deleted rather than leaked.
    assert arm.pools == {}
    assert arm.count("DELETE") == 1


async def test_capacity_failure_is_insufficient_capacity(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    arm.create_failures[A100] = ArmError(
        200, "ZonalAllocationFailed", "Allocation failed. We do not have capacity."
    )
    with pytest.raises(InsufficientCapacityError, match="do not have capacity"):
        await aks.create(_request())
    assert arm.pools == {}


async def test_unknown_lro_failure_is_retried_and_the_failed_pool_replaced(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    arm.create_failures[MACHINE] = ArmError(200, "VMExtensionProvisioningError", "CSE failed (exit 50).")

    async def heal() -> None:
        await arm.wait_until(lambda: MACHINE in arm.pools and arm.pools[MACHINE].state == "Failed")
        del arm.create_failures[MACHINE]

    healer = asyncio.create_task(heal())
    inst = await aks.create(_request())
    await healer
    assert inst.provider_id
    assert len(arm.pools) == 1
    await aks.delete(MACHINE)


async def test_slow_create_times_out_and_a_later_create_adopts_it(
    arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    arm.settings.create_duration_s = 1.0
    impatient = _provider(arm, metrics, operation_timeout_s=0.3)
    patient = _provider(arm, metrics)
    try:
        with pytest.raises(RetryableError, match="did not finish"):
            await impatient.create(_request())
        assert arm.pools[MACHINE].state == "Creating"
        # A restarted controller (a fresh provider) finds the create in flight and waits for it.
        inst = await patient.create(_request())
        assert inst.provider_id
        assert arm.count("PUT") == 1
        assert arm.pools_created == 1
        await patient.delete(MACHINE)
    finally:
        await impatient.close()
        await patient.close()


async def test_vanished_pool_is_observable(aks: InstrumentedCloudProvider, arm: ArmEmulator) -> None:
    await aks.create(_request())
    await arm.vanish(MACHINE)
    assert isinstance(arm.nodes, RecordingNodeRegistrar)
    assert arm.nodes.nodes == {}
    with pytest.raises(InstanceNotFoundError):
        await aks.get(MACHINE)
    assert await aks.list() == []
    with pytest.raises(InstanceNotFoundError):
        await aks.delete(MACHINE)


async def test_pool_vanishing_mid_create_is_retryable_and_recreates_one_pool(
    aks: InstrumentedCloudProvider, arm: ArmEmulator
) -> None:
    arm.settings.create_duration_s = 0.5
    creating = asyncio.create_task(aks.create(_request()))
    await arm.wait_until(lambda: MACHINE in arm.pools)
    await arm.vanish(MACHINE)
    with pytest.raises(RetryableError):
        await creating
    arm.settings.create_duration_s = 0.05
    inst = await aks.create(_request())  # the controller's requeue
    assert inst.provider_id
    assert list(arm.pools) == [MACHINE]
    await aks.delete(MACHINE)


async def test_delete_during_create_leaves_nothing(aks: InstrumentedCloudProvider, arm: ArmEmulator) -> None:
    arm.settings.create_duration_s = 0.5
    creating = asyncio.create_task(aks.create(_request()))
    await arm.wait_until(lambda: MACHINE in arm.pools)
    await aks.delete(MACHINE)
    with pytest.raises(RetryableError) as info:
        await creating
    assert not info.value.retry_here
    await asyncio.sleep(0.2)
    assert arm.pools == {}
    assert arm.pools_created == 1


async def test_retry_after_is_capped(arm: ArmEmulator, metrics: CloudProviderMetrics) -> None:
    capped = RetrySettings(attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05, max_retry_after_s=0.2)
    provider = _provider(arm, metrics, retry=capped, sdk_retries=1)
    arm.inject(throttle("GET", POOL_PATH, times=None, retry_after=3600))
    try:
        start = time.monotonic()
        with pytest.raises(ThrottledError):
            await provider.get(MACHINE)
        assert time.monotonic() - start < 5
    finally:
        await provider.close()


async def test_unauthorized_is_final(arm: ArmEmulator, metrics: CloudProviderMetrics) -> None:
    from gpu_provisioner.cloudprovider import UnauthorizedError

    arm.inject(
        Fault(
            "GET", POOL_PATH, status=403, code="AuthorizationFailed", message="no agentPools/read", times=None
        )
    )
    provider = _provider(arm, metrics)
    try:
        with pytest.raises(UnauthorizedError, match="agentPools/read"):
            await provider.create(_request())
        assert arm.count("GET", POOL_PATH) == 1
    finally:
        await provider.close()


async def test_restart_during_delete_waits_for_the_running_delete(
    arm: ArmEmulator, metrics: CloudProviderMetrics
) -> None:
    patient = _provider(arm, metrics)
    impatient = _provider(arm, metrics, operation_timeout_s=0.2)
    try:
        await patient.create(_request())
        arm.settings.create_duration_s = 0.5
        assert (await patient.get(MACHINE)).state.value == "Running"
        arm.settings.delete_duration_s = 0.6
        with pytest.raises(RetryableError, match="did not finish"):
            await impatient.delete(MACHINE)
        assert arm.pools[MACHINE].state == "Deleting"
        # Meanwhile a create for the same Machine must not race the delete into a second pool.
        with pytest.raises(RetryableError, match="being deleted") as info:
            await patient.create(_request())
        assert not info.value.retry_here
        assert (await patient.get(MACHINE)).state.value == "Deleting"
        await patient.delete(MACHINE)  # waits for the delete already running
        assert arm.pools == {}
        assert arm.count("DELETE") == 1
    finally:
        await impatient.close()
        await patient.close()


async def test_get_reports_a_pool_still_creating(aks: InstrumentedCloudProvider, arm: ArmEmulator) -> None:
    arm.settings.create_duration_s = 0.5
    creating = asyncio.create_task(aks.create(_request()))
    await arm.wait_until(lambda: MACHINE in arm.pools)
    pending = await aks.get(MACHINE)
    assert pending.state.value == "Creating"
    assert pending.provider_id is None
    assert [i.state.value for i in await aks.list()] == ["Creating"]
    inst = await creating
    assert (await aks.get(MACHINE)).provider_id == inst.provider_id
    await aks.delete(MACHINE)
