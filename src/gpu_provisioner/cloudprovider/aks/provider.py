"""AKS: one single-node agent pool per Machine, through the Azure SDK (containerservice + compute).

Create is idempotent by construction: it always reads the pool first and only PUTs when there is
none, so a retry after a lost response, a restart mid-create, or a 409 "in progress" all end by
adopting the one pool rather than making a second (a PUT on an existing pool would silently
overwrite it, as upstream's remediateNodeNameConflict comment warns). A pool is adopted only if
its tags say we made it for the same Machine with the same VM size.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from azure.core.credentials_async import AsyncTokenCredential
from azure.mgmt.compute import models as compute
from azure.mgmt.containerservice import models as cs
from structlog.typing import FilteringBoundLogger as BoundLogger
from tenacity import AsyncRetrying

from gpu_provisioner.cloudprovider.aks.agentpool import (
    VMSS_POOL_TAG,
    build_agent_pool,
    instance_state,
    is_ours,
    is_pool_node,
    machine_of,
    provisioning_state,
    to_instance,
)
from gpu_provisioner.cloudprovider.aks.clients import PROVIDER_NAME, AzureClients
from gpu_provisioner.cloudprovider.aks.config import AKSConfig
from gpu_provisioner.cloudprovider.aks.credential import default_credential
from gpu_provisioner.cloudprovider.aks.errors import classify
from gpu_provisioner.cloudprovider.api.errors import (
    FinalError,
    InstanceConflictError,
    InstanceNotFoundError,
    InvalidRequestError,
    OperationInProgressError,
    RetryableError,
)
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import InstanceTypeLookup
from gpu_provisioner.cloudprovider.api.request import NodeRequest
from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics
from gpu_provisioner.cloudprovider.naming import format_azure_provider_id, pool_name_for
from gpu_provisioner.cloudprovider.retry import operation_retrying

T = TypeVar("T")
log = structlog.get_logger(__name__)

# Bounded fan-out for per-pool VM lookups in list(); ARM throttles per subscription.
_LIST_CONCURRENCY = 8


class AKSCloudProvider:
    def __init__(
        self,
        config: AKSConfig,
        metrics: CloudProviderMetrics,
        *,
        credential: AsyncTokenCredential | None = None,
        instance_types: InstanceTypeLookup | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._owns_credential = credential is None
        self._credential = credential if credential is not None else default_credential(config.ca_bundle)
        self._clients = AzureClients(config, self._credential, metrics)
        self._instance_types = instance_types
        self._node_resource_group = config.node_resource_group
        self._node_rg_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return PROVIDER_NAME

    def owns_node(self, node: Mapping[str, Any]) -> bool:
        return is_pool_node(node)

    def machine_name_of(self, node: Mapping[str, Any]) -> str | None:
        # A Node names its pool, not its Machine; the controllers match pools to Machines themselves.
        return None

    async def close(self) -> None:
        await self._clients.close()
        if self._owns_credential:
            await self._credential.close()

    # ---- public interface -------------------------------------------------------------------

    async def create(self, request: NodeRequest) -> Instance:
        pool_name = pool_name_for(request.name)
        body = build_agent_pool(request)
        logger = log.bind(machine=request.name, pool=pool_name, vm_size=request.instance_type)
        try:
            async with asyncio.timeout(self._config.operation_timeout_s):
                async for attempt in self._retrying("create"):
                    with attempt:
                        pool = await self._ensure_pool(request, pool_name, body, logger)
                        provider_id = await self._provider_id(pool_name, wait=True)
                        logger.info("cloudprovider.created", provider_id=provider_id)
                        return to_instance(pool, provider_id, self._instance_types)
        except TimeoutError as err:
            raise RetryableError(
                f"create of agent pool {pool_name} did not finish in {self._config.operation_timeout_s}s"
            ) from err
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def get(self, machine_name: str) -> Instance:
        pool_name = pool_name_for(machine_name)
        async for attempt in self._retrying("get"):
            with attempt:
                pool = await self._get_pool(pool_name)
                if pool is None or not is_ours(pool) or machine_of(pool) != machine_name:
                    raise InstanceNotFoundError(f"no agent pool for machine {machine_name}", code="NotFound")
                provider_id = await self._provider_id(pool_name, wait=False)
                return to_instance(pool, provider_id, self._instance_types)
        raise AssertionError("unreachable")

    async def list(self) -> list[Instance]:
        async for attempt in self._retrying("list"):
            with attempt:
                pools = await self._call("agent pools", self._list_pools)
                ours = [p for p in pools if is_ours(p)]
                vmss = await self._vmss_by_pool()
                return await self._with_provider_ids(ours, vmss)
        raise AssertionError("unreachable")

    async def _with_provider_ids(
        self, pools: builtins.list[cs.AgentPool], vmss: dict[str, str]
    ) -> builtins.list[Instance]:
        sem = asyncio.Semaphore(_LIST_CONCURRENCY)

        async def one(pool: cs.AgentPool) -> Instance:
            async with sem:
                scale_set = vmss.get(str(pool.name))
                pid = await self._first_vm_provider_id(scale_set) if scale_set else None
            return to_instance(pool, pid, self._instance_types)

        return builtins.list(await asyncio.gather(*(one(p) for p in pools)))

    async def delete(self, machine_name: str) -> None:
        pool_name = pool_name_for(machine_name)
        logger = log.bind(machine=machine_name, pool=pool_name)
        try:
            async with asyncio.timeout(self._config.operation_timeout_s):
                async for attempt in self._retrying("delete"):
                    with attempt:
                        first = attempt.retry_state.attempt_number == 1
                        await self._delete_once(machine_name, pool_name, logger, first=first)
                        return
        except TimeoutError as err:
            raise RetryableError(
                f"delete of agent pool {pool_name} did not finish in {self._config.operation_timeout_s}s"
            ) from err

    # ---- create steps -----------------------------------------------------------------------

    async def _ensure_pool(
        self, request: NodeRequest, pool_name: str, body: cs.AgentPool, logger: BoundLogger
    ) -> cs.AgentPool:
        existing = await self._get_pool(pool_name)
        if existing is None:
            return await self._put_and_wait(request, pool_name, body, logger)
        self._check_adoptable(existing, request, pool_name)
        state = instance_state(existing)
        logger.info("cloudprovider.adopt", provisioning_state=provisioning_state(existing))
        if state is InstanceState.RUNNING:
            return existing
        if state is InstanceState.CREATING:
            return await self._wait_for_pool(request, pool_name, logger)
        if state is InstanceState.DELETING:
            # Perhaps because its Machine is being deleted right now: let the caller look before recreating.
            raise RetryableError(
                f"agent pool {pool_name} is being deleted; create again once it is gone", retry_here=False
            )
        if state is InstanceState.FAILED:
            await self._remove_failed(pool_name, logger)
            raise RetryableError(f"agent pool {pool_name} was in state Failed; deleted it to create it again")
        raise RetryableError(f"agent pool {pool_name} is in state {provisioning_state(existing)!r}")

    def _check_adoptable(self, pool: cs.AgentPool, request: NodeRequest, pool_name: str) -> None:
        owner = machine_of(pool)
        if not is_ours(pool) or owner != request.name:
            raise InstanceConflictError(
                f"agent pool {pool_name} exists but was not made by gpu-provisioner"
                f" for machine {request.name}"
                f" (its machine tag: {owner!r}); refusing to overwrite it",
                code="PoolNameConflict",
            )
        if str(pool.vm_size or "").lower() != request.instance_type.lower():
            raise InstanceConflictError(
                f"agent pool {pool_name} for machine {request.name} has vm size {pool.vm_size},"
                f" not {request.instance_type}; delete the machine to start over",
                code="PoolSpecConflict",
            )

    async def _put_and_wait(
        self, request: NodeRequest, pool_name: str, body: cs.AgentPool, logger: BoundLogger
    ) -> cs.AgentPool:
        what = f"agent pool {pool_name}"
        cfg = self._config
        logger.info("cloudprovider.create_pool")
        try:
            try:
                poller = await self._call(
                    what,
                    lambda: self._clients.containerservice.agent_pools.begin_create_or_update(
                        cfg.resource_group, cfg.cluster_name, pool_name, body
                    ),
                )
            except InstanceNotFoundError as err:
                # A PUT cannot miss its own resource: the cluster or resource group is wrong.
                raise InvalidRequestError(
                    f"cannot create {what}: managed cluster {cfg.cluster_name} in resource group"
                    f" {cfg.resource_group} not found: {err.message}",
                    code=err.code,
                ) from err
            result: cs.AgentPool = await self._call(what, poller.result)
        except OperationInProgressError:
            # Our own earlier PUT (its response lost, re-sent by the SDK) or another process got there first.
            logger.info("cloudprovider.create_in_progress")
            return await self._wait_for_pool(request, pool_name, logger)
        except InstanceNotFoundError as err:
            raise RetryableError(f"{what} vanished while being created", code=err.code) from err
        except FinalError as err:
            # A pool whose create failed for good still exists (state Failed) and would leak; remove it.
            logger.warning("cloudprovider.create_failed", code=err.code, error=err.message)
            await self._remove_failed(pool_name, logger)
            raise
        return result

    async def _wait_for_pool(self, request: NodeRequest, pool_name: str, logger: BoundLogger) -> cs.AgentPool:
        """Poll a pool another operation is creating until it settles."""
        while True:
            pool = await self._get_pool(pool_name)
            if pool is None:
                raise RetryableError(f"agent pool {pool_name} vanished while being created")
            self._check_adoptable(pool, request, pool_name)
            state = instance_state(pool)
            if state is InstanceState.RUNNING:
                return pool
            if state is InstanceState.FAILED:
                cause = _provisioning_error(pool)
                await self._remove_failed(pool_name, logger)
                raise RetryableError(f"agent pool {pool_name} ended in state Failed{cause}")
            if state is InstanceState.DELETING:
                raise RetryableError(f"agent pool {pool_name} is being deleted", retry_here=False)
            await asyncio.sleep(self._config.polling_interval_s)

    async def _remove_failed(self, pool_name: str, logger: BoundLogger) -> None:
        """Best effort: delete a pool left in Failed, only if it is ours; never masks the caller's error."""
        try:
            pool = await self._get_pool(pool_name)
            if pool is None or not is_ours(pool) or instance_state(pool) is not InstanceState.FAILED:
                return
            await self._begin_delete_and_wait(pool_name)
            logger.info("cloudprovider.removed_failed_pool")
        except Exception as err:
            logger.warning("cloudprovider.remove_failed_pool_error", error=str(err))

    # ---- delete steps -----------------------------------------------------------------------

    async def _delete_once(
        self, machine_name: str, pool_name: str, logger: BoundLogger, *, first: bool
    ) -> None:
        pool = await self._get_pool(pool_name)
        if pool is None:
            if first:
                raise InstanceNotFoundError(f"no agent pool for machine {machine_name}", code="NotFound")
            return  # a retried attempt finds it gone: our earlier delete finished
        if not is_ours(pool) or machine_of(pool) != machine_name:
            raise InstanceConflictError(
                f"agent pool {pool_name} was not made by gpu-provisioner for machine {machine_name};"
                " not deleting it",
                code="PoolNameConflict",
            )
        if instance_state(pool) is InstanceState.DELETING:
            logger.info("cloudprovider.delete_in_progress")
            await self._wait_gone(pool_name)
            return
        logger.info("cloudprovider.delete_pool", provisioning_state=provisioning_state(pool))
        await self._begin_delete_and_wait(pool_name)
        if await self._get_pool(pool_name) is not None:
            raise RetryableError(f"agent pool {pool_name} still exists after its delete finished")
        logger.info("cloudprovider.deleted")

    async def _begin_delete_and_wait(self, pool_name: str) -> None:
        what = f"agent pool {pool_name}"
        cfg = self._config
        try:
            poller = await self._call(
                what,
                lambda: self._clients.containerservice.agent_pools.begin_delete(
                    cfg.resource_group, cfg.cluster_name, pool_name
                ),
            )
            await self._call(what, poller.result)
        except InstanceNotFoundError:
            return

    async def _wait_gone(self, pool_name: str) -> None:
        # Polling is the only way to learn about ARM state; bounded by the caller's operation timeout.
        while True:
            if await self._get_pool(pool_name) is None:
                return
            await asyncio.sleep(self._config.polling_interval_s)

    # ---- reads ------------------------------------------------------------------------------

    async def _get_pool(self, pool_name: str) -> cs.AgentPool | None:
        cfg = self._config
        try:
            pool: cs.AgentPool = await self._call(
                f"agent pool {pool_name}",
                lambda: self._clients.containerservice.agent_pools.get(
                    cfg.resource_group, cfg.cluster_name, pool_name
                ),
            )
        except InstanceNotFoundError:
            return None
        return pool

    async def _list_pools(self) -> builtins.list[cs.AgentPool]:
        cfg = self._config
        return [
            p
            async for p in self._clients.containerservice.agent_pools.list(
                cfg.resource_group, cfg.cluster_name
            )
        ]

    async def _node_rg(self) -> str:
        if self._node_resource_group is None:
            async with self._node_rg_lock:
                if self._node_resource_group is None:
                    cfg = self._config
                    mc: cs.ManagedCluster = await self._call(
                        f"managed cluster {cfg.cluster_name}",
                        lambda: self._clients.containerservice.managed_clusters.get(
                            cfg.resource_group, cfg.cluster_name
                        ),
                    )
                    self._node_resource_group = str(mc.node_resource_group)
        return self._node_resource_group

    async def _vmss_by_pool(self) -> dict[str, str]:
        node_rg = await self._node_rg()

        async def collect() -> dict[str, str]:
            found: dict[str, str] = {}
            scale_set: compute.VirtualMachineScaleSet
            async for scale_set in self._clients.compute.virtual_machine_scale_sets.list(node_rg):
                pool = (scale_set.tags or {}).get(VMSS_POOL_TAG)
                if pool and scale_set.name:
                    found[pool] = str(scale_set.name)
            return found

        return await self._call(f"scale sets in {node_rg}", collect)

    async def _first_vm_provider_id(self, vmss_name: str) -> str | None:
        node_rg = await self._node_rg()

        async def collect() -> builtins.list[compute.VirtualMachineScaleSetVM]:
            return [
                vm
                async for vm in self._clients.compute.virtual_machine_scale_set_vms.list(node_rg, vmss_name)
            ]

        try:
            vms = await self._call(f"VMs of scale set {vmss_name}", collect)
        except InstanceNotFoundError:
            return None
        vms = [vm for vm in vms if vm.id]
        if not vms:
            return None
        # count=1, so there is one VM; after a reimage AKS may number it >0, hence no hard-coded index (#173).
        vm = min(vms, key=lambda v: int(str(v.instance_id)) if str(v.instance_id).isdigit() else 1 << 30)
        return format_azure_provider_id(str(vm.id))

    async def _provider_id(self, pool_name: str, *, wait: bool) -> str | None:
        deadline = asyncio.get_running_loop().time() + self._config.vm_lookup_timeout_s
        while True:
            vmss = (await self._vmss_by_pool()).get(pool_name)
            provider_id = await self._first_vm_provider_id(vmss) if vmss else None
            if provider_id is not None or not wait:
                return provider_id
            if asyncio.get_running_loop().time() >= deadline:
                raise RetryableError(
                    f"agent pool {pool_name} succeeded but its scale-set VM is not listed yet"
                )
            await asyncio.sleep(self._config.polling_interval_s)

    # ---- plumbing ---------------------------------------------------------------------------

    def _retrying(self, step: str) -> AsyncRetrying:
        return operation_retrying(self._config.retry, self._metrics, PROVIDER_NAME, step)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except Exception as exc:
            err = classify(exc, what=what)
            if err is None or err is exc:
                raise
            raise err from exc


def _provisioning_error(pool: cs.AgentPool) -> str:
    status = pool.status
    error = getattr(status, "provisioning_error", None) if status is not None else None
    if error is None:
        return ""
    return f": {getattr(error, 'code', '')}: {getattr(error, 'message', '')}"
