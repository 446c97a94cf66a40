"""Local provider: "launching an instance" is registering a kwok-managed Node after a delay.

The Node itself is the instance record, so the provider keeps no state that a restart could lose,
except creates still sleeping out their delay (reported as Creating by get/list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import structlog
from tenacity import AsyncRetrying

from gpu_provisioner.cloudprovider.api.errors import (
    CloudProviderError,
    InstanceConflictError,
    InstanceNotFoundError,
    InvalidRequestError,
    RetryableError,
    ThrottledError,
    UnauthorizedError,
)
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import InstanceTypeLookup
from gpu_provisioner.cloudprovider.api.request import NodeRequest
from gpu_provisioner.cloudprovider.local.node import (
    ANNOTATION_MACHINE,
    LABEL_PROVIDER,
    LABEL_PROVIDER_VALUE,
    build_node,
    instance_from_node,
    is_local_node,
    machine_of_node,
    node_name_for,
)
from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics
from gpu_provisioner.cloudprovider.naming import pool_name_for
from gpu_provisioner.cloudprovider.retry import RetrySettings, operation_retrying
from gpu_provisioner.instancetypes import catalog_instance_types
from kaito.runtime.client import ApiError, Client
from kaito.runtime.client.kinds import NODE
from kaito.runtime.objects import Obj, annotations_of, is_deleting, name_of

T = TypeVar("T")
PROVIDER_NAME = "local"
log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    request: NodeRequest
    started: datetime
    cancelled: bool = False


class LocalCloudProvider:
    def __init__(
        self,
        client: Client,
        metrics: CloudProviderMetrics,
        *,
        instance_types: InstanceTypeLookup | None = None,
        create_delay_s: float = 0.0,
        retry: RetrySettings | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._instance_types = instance_types or catalog_instance_types()
        self._create_delay_s = create_delay_s
        self._retry = retry or RetrySettings()
        self._pending: dict[str, _Pending] = {}

    @property
    def name(self) -> str:
        return PROVIDER_NAME

    def owns_node(self, node: Mapping[str, Any]) -> bool:
        return is_local_node(node)

    def machine_name_of(self, node: Mapping[str, Any]) -> str | None:
        return machine_of_node(node)

    async def close(self) -> None:
        # The client belongs to the caller (the manager).
        return None

    async def create(self, request: NodeRequest) -> Instance:
        info = self._instance_types(request.instance_type)
        if info is None:
            raise InvalidRequestError(
                f"instance type {request.instance_type} is not in the catalog", code="UnknownSku"
            )
        node_name = node_name_for(request.name)
        logger = log.bind(machine=request.name, node=node_name, instance_type=request.instance_type)
        existing = await self._read_node(node_name)
        if existing is not None:
            logger.info("cloudprovider.adopt")
            instance = self._adopt(existing, request.name)
            if instance.state is InstanceState.DELETING:
                raise RetryableError(
                    f"node {node_name} is being deleted; create again once it is gone", retry_here=False
                )
            return instance
        if self._create_delay_s > 0:
            pending = _Pending(request, datetime.now(UTC))
            self._pending[request.name] = pending
            try:
                await asyncio.sleep(self._create_delay_s)
            finally:
                self._pending.pop(request.name, None)
            if pending.cancelled:
                raise RetryableError(f"machine {request.name} was deleted while its node was being created")
        body = build_node(request, info)
        try:
            node = await self._k8s("create node", lambda: self._client.create(NODE, body))
        except InstanceConflictError:
            # Created meanwhile by a concurrent call for the same Machine (or another process): adopt it.
            raced = await self._read_node(node_name)
            if raced is None:
                raise RetryableError(f"node {node_name} conflicted on create but is gone") from None
            return self._adopt(raced, request.name)
        logger.info("cloudprovider.created", provider_id=(node.get("spec") or {}).get("providerID"))
        return instance_from_node(node)

    async def get(self, machine_name: str) -> Instance:
        node = await self._read_node(node_name_for(machine_name))
        if node is None or _machine_of(node) != machine_name:
            pending = self._pending.get(machine_name)
            if pending is not None and node is None:
                return self._pending_instance(pending)
            raise InstanceNotFoundError(f"no node for machine {machine_name}", code="NotFound")
        return instance_from_node(node)

    async def list(self) -> list[Instance]:
        nodes = await self._k8s(
            "list nodes",
            lambda: self._client.list(NODE, label_selector=f"{LABEL_PROVIDER}={LABEL_PROVIDER_VALUE}"),
        )
        found = [instance_from_node(n) for n in nodes.get("items") or []]
        listed = {i.machine_name for i in found}
        found += [self._pending_instance(p) for m, p in self._pending.items() if m not in listed]
        return found

    async def delete(self, machine_name: str) -> None:
        pending = self._pending.get(machine_name)
        if pending is not None:
            pending.cancelled = True
            return
        node_name = node_name_for(machine_name)
        node = await self._read_node(node_name)
        if node is None:
            raise InstanceNotFoundError(f"no node for machine {machine_name}", code="NotFound")
        if _machine_of(node) != machine_name:
            raise InstanceConflictError(
                f"node {node_name} was not made by the local provider for machine {machine_name};"
                " not deleting it"
            )
        if is_deleting(node):
            return
        # Not waiting for the Node to disappear: the termination controller's finalizer on it is only
        # removed after this call returns, so waiting here would deadlock.
        if not await self._k8s("delete node", lambda: self._client.delete(NODE, None, node_name)):
            return  # gone meanwhile
        log.info("cloudprovider.deleted", machine=machine_name, node=node_name)

    # ---- helpers ----------------------------------------------------------------------------

    def _adopt(self, node: Obj, machine_name: str) -> Instance:
        owner = _machine_of(node)
        if owner != machine_name:
            raise InstanceConflictError(
                f"node {name_of(node)} exists but belongs to {owner!r}, not machine {machine_name}",
                code="NodeNameConflict",
            )
        return instance_from_node(node)

    def _pending_instance(self, pending: _Pending) -> Instance:
        req = pending.request
        return Instance(
            name=pool_name_for(req.name),
            machine_name=req.name,
            provider_id=None,
            instance_type=req.instance_type,
            state=InstanceState.CREATING,
            labels=dict(req.labels),
            taints=req.taints,
            created_at=pending.started,
        )

    async def _read_node(self, name: str) -> Obj | None:
        try:
            return await self._k8s(f"read node {name}", lambda: self._client.get(NODE, None, name))
        except InstanceNotFoundError:
            return None

    def _retrying(self, step: str) -> AsyncRetrying:
        return operation_retrying(self._retry, self._metrics, PROVIDER_NAME, step)

    async def _k8s(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in self._retrying(what):
            with attempt:
                try:
                    return await call()
                except ApiError as exc:
                    raise _classify(exc, what) from exc
                except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                    raise RetryableError(f"{what}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")


def _machine_of(node: Obj) -> str | None:
    return annotations_of(node).get(ANNOTATION_MACHINE)


def _classify(exc: ApiError, what: str) -> CloudProviderError:
    status = exc.status
    text = f"{what}: {exc.status} {exc.reason}"
    if status == 404:
        return InstanceNotFoundError(text, code="NotFound")
    if status == 409:
        return InstanceConflictError(text, code="AlreadyExists")
    if status == 429:
        # The apiserver puts its Retry-After header's value in the Status body too.
        retry_after = (exc.body.get("details") or {}).get("retryAfterSeconds")
        return ThrottledError(text, retry_after=float(retry_after) if retry_after else None)
    if status == 403:
        # The "cloud" here is the apiserver itself, and a restarted apiserver denies everything until its
        # RBAC caches are filled: a Forbidden is retried with backoff, not a permanent launch failure (an
        # e2e apiserver restart once failed a Machine for good this way). A missing ClusterRole shows as
        # the same warning on every retry.
        return RetryableError(text + " (retried: RBAC may still be starting)")
    if status == 401:
        return UnauthorizedError(text)
    if status >= 500 or status == 0:
        return RetryableError(text)
    return InvalidRequestError(text)
