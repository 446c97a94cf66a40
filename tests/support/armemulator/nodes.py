"""Where the emulator registers the Node a finished pool brings up, as AKS's kubelet would."""

from __future__ import annotations

from typing import Any, Protocol

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}


class NodeRegistrar(Protocol):
    async def register(self, node: dict[str, Any]) -> None: ...

    async def unregister(self, name: str) -> None: ...


class RecordingNodeRegistrar:
    """No cluster: keeps the Node bodies so tests can inspect them."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    async def register(self, node: dict[str, Any]) -> None:
        self.nodes[node["metadata"]["name"]] = node

    async def unregister(self, name: str) -> None:
        self.nodes.pop(name, None)


class KubeNodeRegistrar:
    """Registers kwok Nodes in a real cluster (kwok then keeps them Ready)."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api)
        self.names: set[str] = set()

    async def register(self, node: dict[str, Any]) -> None:
        try:
            await self._core.create_node(node)  # type: ignore[arg-type]
        except ApiException as err:
            if err.status != 409:
                raise
        self.names.add(node["metadata"]["name"])

    async def unregister(self, name: str) -> None:
        # Like AKS: the VM is gone, the Node object is deleted; finalizers on it are the cluster's business.
        try:
            await self._core.delete_node(name)
        except ApiException as err:
            if err.status != 404:
                raise
        self.names.discard(name)
