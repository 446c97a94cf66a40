"""Wrap any CloudProvider to time its calls and count their errors, as karpenter's metrics.Decorate does."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gpu_provisioner.cloudprovider.api.errors import CloudProviderError
from gpu_provisioner.cloudprovider.api.instance import Instance
from gpu_provisioner.cloudprovider.api.provider import CloudProvider
from gpu_provisioner.cloudprovider.api.request import NodeRequest
from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics
from gpu_provisioner.cloudprovider.retry import current_method

T = TypeVar("T")


class InstrumentedCloudProvider:
    def __init__(self, inner: CloudProvider, metrics: CloudProviderMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def inner(self) -> CloudProvider:
        return self._inner

    async def _observe(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        token = current_method.set(method)
        start = time.monotonic()
        try:
            return await call()
        except CloudProviderError as err:
            self._metrics.errors.labels(method, self.name, err.kind).inc()
            raise
        except Exception as err:
            # Anything else is a bug in the provider; still counted so that it shows on a dashboard.
            self._metrics.errors.labels(method, self.name, type(err).__name__).inc()
            raise
        finally:
            self._metrics.duration.labels(method, self.name).observe(time.monotonic() - start)
            current_method.reset(token)

    async def create(self, request: NodeRequest) -> Instance:
        return await self._observe("create", lambda: self._inner.create(request))

    async def get(self, machine_name: str) -> Instance:
        return await self._observe("get", lambda: self._inner.get(machine_name))

    async def list(self) -> list[Instance]:
        return await self._observe("list", self._inner.list)

    async def delete(self, machine_name: str) -> None:
        await self._observe("delete", lambda: self._inner.delete(machine_name))

    async def close(self) -> None:
        await self._inner.close()

    def owns_node(self, node: Mapping[str, Any]) -> bool:
        return self._inner.owns_node(node)

    def machine_name_of(self, node: Mapping[str, Any]) -> str | None:
        return self._inner.machine_name_of(node)
