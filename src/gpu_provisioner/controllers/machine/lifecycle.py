"""The Machine lifecycle reconciler: finalizer, then launch, registration, initialization and
liveness; termination once the Machine is being deleted. One status write per pass at most, and
only when something changed, so our own writes do not loop the Machine through the queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gpu_provisioner.controllers.machine.conditions import derive_ready
from gpu_provisioner.controllers.machine.context import Deps, Pass
from gpu_provisioner.controllers.machine.initialization import initialize, node_health
from gpu_provisioner.controllers.machine.launch import launch
from gpu_provisioner.controllers.machine.liveness import check_liveness
from gpu_provisioner.controllers.machine.objects import has_finalizer, is_managed
from gpu_provisioner.controllers.machine.registration import register
from gpu_provisioner.controllers.machine.termination import finalize
from kaito.api.constants import MACHINE_TERMINATION_FINALIZER
from kaito.runtime.objects import Obj, annotations_of, is_deleting, labels_of, meta

# How soon to look again when the cache has not yet caught up with our own last write.
STALE_CACHE_RETRY = 0.2


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rv(obj: Obj) -> str:
    return str(meta(obj).get("resourceVersion", ""))


class MachineLifecycle:
    def __init__(self, deps: Deps, clock: Callable[[], datetime] = _utcnow) -> None:
        self.deps = deps
        self._clock = clock
        # Expectations, as ReplicaSet's: resourceVersions of a Machine that our own writes superseded.
        # A reconcile that reads one of them from the cache is looking at the past (a Node event can
        # arrive before the Machine's) and would register or initialize a second time, so it waits.
        self._superseded: dict[str, set[str]] = {}

    async def reconcile(self, name: str) -> float | None:
        """Returns the seconds after which to look again, or None."""
        kube = self.deps.kube
        machine = await kube.get_machine(name)
        if machine is None:
            self._superseded.pop(name, None)
            return None
        if not is_managed(machine) and not has_finalizer(machine):
            # Someone else's Machine. One that carries our finalizer was ours (its labels may have been
            # edited since) and still gets terminated, or its capacity would leak.
            return None
        if _rv(machine) in self._superseded.get(name, ()):
            return STALE_CACHE_RETRY
        self._superseded.pop(name, None)
        p = Pass(machine, self._clock())
        nodes = await kube.list_nodes()

        if is_deleting(machine):
            await finalize(self.deps, p, nodes)
            return p.requeue_after
        if not is_managed(machine):
            return None

        if not has_finalizer(machine):
            finalizers = [*(meta(machine).get("finalizers") or []), MACHINE_TERMINATION_FINALIZER]
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": _rv(machine)}}
            updated = await kube.patch_machine(name, patch)
            self._supersede(name, _rv(machine))
            p = Pass(updated, p.now)

        try:
            if await launch(self.deps, p) and await register(self.deps, p, nodes):
                await initialize(self.deps, p, nodes)
            await check_liveness(self.deps, p)
        finally:
            # Even when a later stage fails, record what earlier ones learnt: a collected launch result
            # exists nowhere else, and losing it would cost another create call to adopt it again.
            if not p.deleted:
                unhealthy = node_health(p, nodes)
                if unhealthy is not None:
                    p.requeue(self.deps.settings.poll_interval * 6)
                derive_ready(p.status, now=p.now, unhealthy=unhealthy)
                await self._write(p)
        return None if p.deleted else p.requeue_after

    def _supersede(self, name: str, rv: str) -> None:
        self._superseded.setdefault(name, set()).add(rv)

    async def _write(self, p: Pass) -> None:
        kube = self.deps.kube
        read_rv = _rv(p.machine)
        meta_patch: dict[str, object] = {}
        old_labels, old_annotations = labels_of(p.machine), annotations_of(p.machine)
        if p.labels != old_labels:
            meta_patch["labels"] = {k: v for k, v in p.labels.items() if old_labels.get(k) != v}
        if p.annotations != old_annotations:
            changes: dict[str, str | None] = {
                k: v for k, v in p.annotations.items() if old_annotations.get(k) != v
            }
            changes.update({k: None for k in old_annotations if k not in p.annotations})
            meta_patch["annotations"] = changes
        # Status first: if the process dies between the two writes, the providerID is what matters.
        if p.status != (p.machine.get("status") or {}):
            written = await kube.patch_machine_status(p.name, {"status": p.status})
            self._supersede(p.name, read_rv)
            read_rv = _rv(written)
        if meta_patch:
            await kube.patch_machine(p.name, {"metadata": meta_patch})
            self._supersede(p.name, read_rv)
