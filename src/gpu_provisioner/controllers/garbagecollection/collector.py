"""One GC pass, run periodically by the leader.

Three leaks are closed, each after a grace period and each re-checked live before acting, because
a stale cache must never make us delete something a user just created:

* a cloud instance tagged as ours whose Machine no longer exists (a Machine deleted mid-create, or
  deleted while the provisioner was down): the instance and its Nodes are deleted;
* a launched Machine whose instance is gone from the cloud: the Machine is deleted (its owner, the
  workspace controller, makes a new one);
* a Node of ours (owned by a Machine, or in an agent pool with the provisioner's label) whose Machine
  is gone: the Node is deleted.

Each action is logged, counted in ``gpu_provisioner_garbage_collected_total`` and evented.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from gpu_provisioner.cloudprovider.api import CloudProvider, Instance, InstanceNotFoundError, InstanceState
from gpu_provisioner.cloudprovider.naming import pool_name_for
from gpu_provisioner.controllers.machine.context import Deps
from gpu_provisioner.controllers.machine.objects import (
    is_managed,
    node_owner_machine,
    node_pool_name,
    provider_id_of,
    same_provider_id,
    status_of,
)
from gpu_provisioner.controllers.machine.termination import delete_nodes
from gpu_provisioner.controllers.operations import CREATE, DELETE, GC_DELETE, Outcome
from kaito.api.constants import MACHINE_API_VERSION, MACHINE_CONDITION_LAUNCHED, MACHINE_KIND
from kaito.runtime.objects import (
    Obj,
    conditions_of,
    created_at,
    find_condition,
    is_deleting,
    meta,
    name_of,
)
from kaito.runtime.timefmt import parse_time

log = structlog.get_logger(__name__)

REASON = "garbage_collected"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _machine_ref(name: str) -> Obj:
    """A stand-in to hang Events on for a Machine that no longer exists."""
    return {"apiVersion": MACHINE_API_VERSION, "kind": MACHINE_KIND, "metadata": {"name": name}}


def is_our_node(node: Obj, provider: CloudProvider) -> bool:
    """Owned by a Machine, or made by the cloud provider (which alone knows its own marks)."""
    return node_owner_machine(node) is not None or provider.owns_node(node)


class GarbageCollector:
    def __init__(self, deps: Deps, clock: Callable[[], datetime] = _utcnow) -> None:
        self.deps = deps
        self._clock = clock
        # Orphans with no creation time of their own are timed from when we first saw them.
        self._first_seen: dict[str, datetime] = {}
        self._collected_nodes: set[str] = set()

    def _old_enough(self, key: str, born: datetime | None, now: datetime) -> bool:
        if born is None:
            born = self._first_seen.setdefault(key, now)
        return (now - born).total_seconds() >= self.deps.settings.gc_grace_period

    async def run_once(self) -> None:
        deps = self.deps
        now = self._clock()
        self._collect_finished_deletes()
        try:
            instances = await deps.provider.list()
        except Exception as err:  # a failed list must never be read as "no instances"
            log.warning("gc: listing cloud instances failed; skipping this pass", error=repr(err))
            return
        self._collected_nodes = set()
        machines = [m for m in await deps.kube.list_machines() if is_managed(m)]
        nodes = await deps.kube.list_nodes()
        # The three sweeps are independent: one failing must not stop the others.
        sweeps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("instances", functools.partial(self._instances, instances, machines, nodes, now)),
            ("machines", functools.partial(self._machines, instances, machines, now)),
            ("nodes", functools.partial(self._nodes, machines, nodes, now)),
        ]
        for sweep, run in sweeps:
            try:
                await run()
            except Exception as err:
                log.warning("gc: sweep failed; the next pass retries", sweep=sweep, error=repr(err))
        seen = {f"instance/{i.name}" for i in instances} | {f"node/{name_of(n)}" for n in nodes}
        for key in [k for k in self._first_seen if k not in seen]:
            del self._first_seen[key]

    def _collect_finished_deletes(self) -> None:
        for key in self.deps.tracker.keys(GC_DELETE):
            polled = self.deps.tracker.poll(key, GC_DELETE)
            if isinstance(polled, Outcome):
                err = polled.error
                if err is None or isinstance(err, InstanceNotFoundError):
                    log.info("gc: orphan instance deleted", machine=key)
                else:
                    self.deps.metrics.retry(GC_DELETE)
                    log.warning(
                        "gc: deleting orphan instance failed; next pass retries", machine=key, error=repr(err)
                    )

    async def _instances(
        self, instances: list[Instance], machines: list[Obj], nodes: list[Obj], now: datetime
    ) -> None:
        deps = self.deps
        names = {name_of(m) for m in machines}
        for inst in instances:
            mn = inst.machine_name
            if inst.state == InstanceState.DELETING or mn is None or mn in names:
                continue
            if not self._old_enough(f"instance/{inst.name}", inst.created_at, now):
                continue
            tracker = deps.tracker
            if tracker.running(mn, GC_DELETE) or tracker.running(mn, DELETE) or tracker.running(mn, CREATE):
                continue
            if await deps.kube.get_machine_live(mn) is not None:
                continue
            log.warning("gc: deleting cloud instance with no machine", instance=inst.name, machine=mn)
            deps.metrics.gc("instance")
            deps.kube.event(
                _machine_ref(mn), "Warning", "GarbageCollected",
                f"deleting cloud instance {inst.name}: its machine {mn} no longer exists",
            )  # fmt: skip
            tracker.start(mn, GC_DELETE, functools.partial(deps.provider.delete, mn))
            orphans = [
                n for n in nodes if inst.provider_id and same_provider_id(provider_id_of(n), inst.provider_id)
            ]
            for node in orphans:
                deps.metrics.gc("node")
                deps.kube.event(node, "Warning", "GarbageCollected", f"node of orphan instance {inst.name}")
            await delete_nodes(deps, orphans)
            # So that the node sweep of this same pass does not collect them a second time.
            self._collected_nodes.update(name_of(n) for n in orphans)

    async def _machines(self, instances: list[Instance], machines: list[Obj], now: datetime) -> None:
        deps = self.deps
        have = {i.machine_name for i in instances if i.machine_name}
        for machine in machines:
            name = name_of(machine)
            if is_deleting(machine) or name in have or not status_of(machine).get("providerID"):
                continue
            launched = find_condition(conditions_of(machine), MACHINE_CONDITION_LAUNCHED)
            if launched is None or launched.get("status") != "True":
                continue
            since = parse_time(launched.get("lastTransitionTime"))
            if since is None or (now - since).total_seconds() < deps.settings.gc_grace_period:
                continue
            if deps.tracker.running(name, CREATE):
                continue
            try:
                await deps.provider.get(name)
                continue
            except InstanceNotFoundError:
                pass
            except Exception as err:
                log.warning("gc: cannot confirm machine's instance is gone", machine=name, error=repr(err))
                continue
            log.warning("gc: deleting machine whose cloud instance is gone", machine=name)
            deps.metrics.gc("machine")
            deps.kube.event(machine, "Warning", "GarbageCollected", "cloud instance no longer exists")
            deps.termination_reasons[name] = REASON
            await deps.kube.delete_machine(name)

    async def _nodes(self, machines: list[Obj], nodes: list[Obj], now: datetime) -> None:
        deps = self.deps
        by_uid = {meta(m).get("uid") for m in machines}
        pools = {pool_name_for(name_of(m)) for m in machines} | {name_of(m) for m in machines}
        provider_ids = [status_of(m).get("providerID") for m in machines]
        for node in nodes:
            if is_deleting(node) or name_of(node) in self._collected_nodes:
                continue
            if not is_our_node(node, deps.provider):
                continue
            owner = node_owner_machine(node)
            pid = provider_id_of(node)
            if owner is not None and owner[1] in by_uid:
                continue
            if owner is None and node_pool_name(node) in pools:
                continue
            if any(same_provider_id(pid, x) for x in provider_ids):
                continue
            if not self._old_enough(f"node/{name_of(node)}", created_at(node), now):
                continue
            # The cache may hold only some Machines (--machine-selector) or lag: ask the apiserver.
            if owner is not None:
                live = await deps.kube.get_machine_live(owner[0])
                if live is not None and meta(live).get("uid") == owner[1]:
                    continue
            else:
                candidate = deps.provider.machine_name_of(node) or node_pool_name(node)
                if candidate and await deps.kube.get_machine_live(candidate) is not None:
                    continue
            log.warning("gc: deleting node with no machine", node=name_of(node))
            deps.metrics.gc("node")
            deps.kube.event(node, "Warning", "GarbageCollected", "node has no machine")
            await delete_nodes(deps, [node])
