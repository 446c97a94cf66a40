"""Wire the Machine controllers and the GC loop into a kaito.runtime Manager."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from gpu_provisioner.cloudprovider.api import CloudProvider
from gpu_provisioner.controllers.garbagecollection import GarbageCollector, run_periodically
from gpu_provisioner.controllers.kube.kinds import MACHINE, NODE
from gpu_provisioner.controllers.kube.runtime import RuntimeKube
from gpu_provisioner.controllers.machine import Deps, LifecycleSettings, MachineLifecycle
from gpu_provisioner.controllers.machine.objects import node_owner_machine
from gpu_provisioner.controllers.operations import OperationTracker
from gpu_provisioner.metrics import ProvisionerMetrics
from kaito.runtime import Controller, Manager, Request, Result
from kaito.runtime.objects import Obj, name_of

CONTROLLER_NAME = "machine.lifecycle"
PROVIDER_ID_INDEX = "providerID"


@dataclass
class Provisioner:
    """The wired-up pieces, for tests and for shutdown."""

    deps: Deps
    lifecycle: MachineLifecycle
    gc: GarbageCollector
    controller: Controller


def _provider_id_of_machine(obj: Obj) -> Iterable[str]:
    pid = (obj.get("status") or {}).get("providerID")
    return [str(pid).lower()] if pid else []


def add_to_manager(
    mgr: Manager,
    provider: CloudProvider,
    *,
    settings: LifecycleSettings,
    max_concurrent_reconciles: int = 10,
    metrics: ProvisionerMetrics | None = None,
) -> Provisioner:
    metrics = metrics or ProvisionerMetrics(mgr.metrics.registry, provider=provider.name)
    tracker = OperationTracker(settings.operation_timeout)
    kube = RuntimeKube(mgr.cache, mgr.client, mgr.event_recorder("gpu-provisioner"))
    deps = Deps(kube=kube, provider=provider, tracker=tracker, metrics=metrics, settings=settings)
    lifecycle = MachineLifecycle(deps)
    mgr.cache.index_field(MACHINE, PROVIDER_ID_INDEX, _provider_id_of_machine)

    def node_to_machines(node: Obj) -> list[Request]:
        """A Node event wakes the Machine it belongs to, however we can tell which that is."""
        names: set[str] = set()
        owner = node_owner_machine(node)
        if owner is not None:
            names.add(owner[0])
        named = provider.machine_name_of(node)
        if named:
            names.add(named)
        pid = (node.get("spec") or {}).get("providerID")
        if pid:
            for m in mgr.cache.list(MACHINE, index=(PROVIDER_ID_INDEX, str(pid).lower())):
                names.add(name_of(m))
        return [Request("", n) for n in sorted(names)]

    async def reconcile(request: Request) -> Result | None:
        after = await lifecycle.reconcile(request.name)
        return Result(requeue_after=after) if after else None

    controller = (
        mgr.controller(CONTROLLER_NAME)
        .for_(MACHINE)
        .watches(NODE, node_to_machines)
        .max_concurrent_reconciles(max_concurrent_reconciles)
        .complete(reconcile)
    )
    # A finished cloud operation wakes its Machine at once instead of at the next poll.
    tracker.set_on_done(lambda name: controller.queue.add(Request("", name)))

    gc = GarbageCollector(deps)

    async def garbage_collection() -> None:
        await run_periodically(gc, settings.gc_interval)

    async def cloud_operations() -> None:
        # Holds the tracked cloud calls' lifetime to the leader's: cancelled on shutdown or lost lease.
        try:
            await asyncio.Event().wait()
        finally:
            await tracker.close()

    mgr.add(garbage_collection, needs_leader=True, name="machine.garbagecollection")
    mgr.add(cloud_operations, needs_leader=True, name="cloud-operations")
    return Provisioner(deps=deps, lifecycle=lifecycle, gc=gc, controller=controller)
