"""Randomised fault schedules against create/delete, run the way a controller would (requeue on a
retryable error): whatever ARM throws, there is never more than one pool, and nothing is left after
delete. Seeds are fixed so a failure replays exactly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from gpu_provisioner.cloudprovider import (
    CloudProviderMetrics,
    InstanceNotFoundError,
    InstrumentedCloudProvider,
    NodeRequest,
    RetryableError,
)
from gpu_provisioner.cloudprovider.aks import AKSCloudProvider
from tests.gpu_provisioner.conftest import aks_config_for
from tests.support.armemulator import (
    ArmEmulator,
    EmulatorSettings,
    Fault,
    RecordingNodeRegistrar,
    StaticTokenCredential,
    server_error,
    throttle,
)

MACHINE = "ws0c4a05000"
REQUEST = NodeRequest(name=MACHINE, instance_type="Standard_NC6s_v3")
# What ARM may do to any request; paths cover the pool, its operations and the compute lists.
PATHS = [r"/agentPools/", r"/operations/", r"/virtualMachineScaleSets", r"/managedClusters/[^/]+$"]
REQUEUES = 6
# More seeds for a soak run: GP_CHAOS_SEEDS=200 pytest tests/gpu_provisioner/cloudprovider/aks/test_chaos.py
SEEDS = int(os.environ.get("GP_CHAOS_SEEDS", "10"))


def _faults(rng: random.Random) -> list[Fault]:
    faults: list[Fault] = []
    for _ in range(rng.randint(1, 6)):
        method = rng.choice([None, "GET", "PUT", "DELETE"])
        path = rng.choice(PATHS)
        times = rng.randint(1, 5)
        kind = rng.random()
        if kind < 0.4:
            faults.append(throttle(method, path, times=times, retry_after=rng.choice([0, 0.01, 0.05])))
        elif kind < 0.7:
            faults.append(server_error(method, path, times=times))
        else:
            faults.append(server_error(method or "PUT", path, times=1, after_apply=True))
    return faults


async def _until_done(call: Callable[[], Awaitable[object]], what: str) -> None:
    for _ in range(REQUEUES):
        try:
            await call()
            return
        except RetryableError:
            await asyncio.sleep(0.01)  # the workqueue's backoff
    pytest.fail(f"{what} did not succeed within {REQUEUES} requeues")


@pytest.mark.parametrize("seed", range(SEEDS))
async def test_faults_never_duplicate_or_leak(seed: int) -> None:
    rng = random.Random(seed)
    nodes = RecordingNodeRegistrar()
    arm = ArmEmulator(EmulatorSettings(create_duration_s=rng.choice([0.0, 0.05, 0.2])), nodes=nodes)
    await arm.start()
    metrics = CloudProviderMetrics(CollectorRegistry())
    # Two providers: a controller that restarted, or two replicas without leader election.
    providers = [
        InstrumentedCloudProvider(
            AKSCloudProvider(aks_config_for(arm), metrics, credential=StaticTokenCredential()), metrics
        )
        for _ in range(2)
    ]
    try:
        arm.inject(*_faults(rng))
        await asyncio.gather(
            *(_until_done(functools.partial(p.create, REQUEST), "create") for p in providers)
        )
        assert arm.max_pools == 1
        assert list(arm.pools) == [MACHINE]
        assert len(nodes.nodes) == 1
        (node,) = nodes.nodes.values()
        assert (await providers[0].get(MACHINE)).provider_id == node["spec"]["providerID"]

        arm.inject(*_faults(rng))

        async def delete() -> None:
            with contextlib.suppress(InstanceNotFoundError):  # an earlier requeued delete finished it
                await providers[1].delete(MACHINE)

        await _until_done(delete, "delete")
        await arm.wait_idle()
        assert arm.pools == {}
        assert nodes.nodes == {}
        assert arm.max_pools == 1
    finally:
        for p in providers:
            await p.close()
        await arm.stop()
