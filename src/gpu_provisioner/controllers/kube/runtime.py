"""KubeOps on kaito.runtime: reads from the Manager's shared cache, writes through its client."""

from __future__ import annotations

import copy

from gpu_provisioner.controllers.kube.kinds import MACHINE, NODE
from kaito.runtime.cache.cache import Cache
from kaito.runtime.client.client import Client, PatchType
from kaito.runtime.client.errors import NotFoundError
from kaito.runtime.events import EventRecorder
from kaito.runtime.objects import Obj


class RuntimeKube:
    def __init__(self, cache: Cache, client: Client, recorder: EventRecorder | None) -> None:
        self._cache = cache
        self._client = client
        self._recorder = recorder

    async def get_machine(self, name: str) -> Obj | None:
        # Cached dicts are shared with every reader: copy before anyone edits them.
        obj = self._cache.get(MACHINE, None, name)
        return copy.deepcopy(obj) if obj is not None else None

    async def get_machine_live(self, name: str) -> Obj | None:
        return await self._client.get_or_none(MACHINE, None, name)

    async def list_machines(self) -> list[Obj]:
        return copy.deepcopy(self._cache.list(MACHINE))

    async def list_nodes(self) -> list[Obj]:
        # Not copied: a cluster can have thousands of Nodes and every reconcile reads them; the
        # controllers only read these dicts (KubeOps contract) and write Nodes through patches.
        return self._cache.list(NODE)

    async def patch_machine(self, name: str, patch: Obj) -> Obj:
        return await self._client.patch(MACHINE, None, name, patch)

    async def patch_machine_status(self, name: str, patch: Obj) -> Obj:
        return await self._client.patch_status(MACHINE, None, name, patch)

    async def delete_machine(self, name: str) -> bool:
        return await self._client.delete(MACHINE, None, name)

    async def patch_node(self, name: str, patch: Obj | list[Obj]) -> Obj | None:
        patch_type = PatchType.JSON if isinstance(patch, list) else PatchType.STRATEGIC
        try:
            return await self._client.patch(NODE, None, name, patch, patch_type=patch_type)
        except NotFoundError:
            return None

    async def delete_node(self, name: str) -> bool:
        return await self._client.delete(NODE, None, name)

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        if self._recorder is not None:
            stamped = obj if "kind" in obj else MACHINE.stamp(obj)
            self._recorder.event(stamped, event_type, reason, message)
