"""Every apiserver operation the Machine controllers make, as one small protocol.

The lifecycle and GC logic is written against this protocol rather than the runtime's client so
that it is testable with an in-memory fake, and so that the runtime glue stays in one file.
Objects are plain JSON dicts as the apiserver returns them.
"""

from __future__ import annotations

from typing import Protocol

from kaito.runtime.objects import Obj


class KubeOps(Protocol):
    async def get_machine(self, name: str) -> Obj | None:
        """From the cache."""
        ...

    async def get_machine_live(self, name: str) -> Obj | None:
        """Straight from the apiserver: used before a destructive decision the cache could mislead."""
        ...

    async def list_machines(self) -> list[Obj]: ...

    async def list_nodes(self) -> list[Obj]:
        """Read-only: the returned dicts may be the cache's own."""
        ...

    async def patch_machine(self, name: str, patch: Obj) -> Obj:
        """JSON merge patch of metadata/spec; a ``metadata.resourceVersion`` in it makes it optimistic."""
        ...

    async def patch_machine_status(self, name: str, patch: Obj) -> Obj: ...

    async def delete_machine(self, name: str) -> bool:
        """False when it was already gone."""
        ...

    async def patch_node(self, name: str, patch: Obj | list[Obj]) -> Obj | None:
        """A dict is a strategic merge patch (no resourceVersion: kubelets and kwok rewrite Node status
        every few seconds, so optimistic writes would mostly conflict); a list is a JSON patch.
        None when the Node is gone."""
        ...

    async def delete_node(self, name: str) -> bool: ...

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Fire-and-forget Event about ``obj`` (Normal or Warning)."""
        ...
