"""The interface the Machine controllers call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from gpu_provisioner.cloudprovider.api.instance import Instance
from gpu_provisioner.cloudprovider.api.request import NodeRequest


@runtime_checkable
class CloudProvider(Protocol):
    """One node per Machine, keyed by the Machine's name.

    Every method is safe to call again after any failure, from a fresh process too: create adopts
    an instance an earlier attempt made for the same Machine instead of making a second one.
    Errors are the classes in :mod:`gpu_provisioner.cloudprovider.api.errors`.
    """

    @property
    def name(self) -> str:
        """The provider's label in metrics: "aks" or "local"."""
        ...

    async def create(self, request: NodeRequest) -> Instance:
        """Make (or adopt) the Machine's node and wait until it runs; returns it with its providerID."""
        ...

    async def get(self, machine_name: str) -> Instance:
        """The Machine's instance in whatever state it is; InstanceNotFoundError when there is none."""
        ...

    async def list(self) -> list[Instance]:
        """Every instance this provider made (tagged as ours), for garbage collection."""
        ...

    async def delete(self, machine_name: str) -> None:
        """Delete the Machine's instance and wait until the cloud has removed it.

        Raises InstanceNotFoundError when there was nothing to delete, so that callers can loop
        "delete until NotFound" as karpenter's termination does. Never deletes an instance that
        is not tagged as made for this Machine (InstanceConflictError).
        """
        ...

    async def close(self) -> None:
        """Release clients and sessions."""
        ...

    def owns_node(self, node: Mapping[str, Any]) -> bool:
        """Whether this provider made the Node, judged by the marks it puts on its nodes (as karpenter
        asks its cloud provider rather than reading provider-specific labels itself). Garbage
        collection deletes such a Node once its Machine is gone."""
        ...

    def machine_name_of(self, node: Mapping[str, Any]) -> str | None:
        """The Machine this provider made the Node for, when its nodes carry that name; else None
        (the controllers then match the Node by providerID, owner reference or agent pool)."""
        ...
