"""Where the emulator registers the Node a finished pool brings up, as AKS's kubelet would."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from kaito.runtime.client import AlreadyExistsError, Client, kinds

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

    def __init__(self, client: Client) -> None:
        self._client = client
        self.names: set[str] = set()

    async def register(self, node: dict[str, Any]) -> None:
        with contextlib.suppress(AlreadyExistsError):
            await self._client.create(kinds.NODE, node)
        self.names.add(node["metadata"]["name"])

    async def unregister(self, name: str) -> None:
        # Like AKS: the VM is gone, the Node object is deleted; finalizers on it are the cluster's business.
        await self._client.delete(kinds.NODE, None, name)  # already gone (404) is fine
        self.names.discard(name)
