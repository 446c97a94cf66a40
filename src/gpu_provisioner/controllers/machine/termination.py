"""Termination of a deleted Machine: cordon and delete its Nodes, delete its cloud capacity, wait
until the cloud reports it gone, and only then release the finalizer.

The cloud delete is attempted even when the Machine never recorded a providerID: a create from an
earlier process may still be running in the cloud, and skipping the delete would leak that pool.
"""

from __future__ import annotations

from gpu_provisioner.cloudprovider.api import (
    CloudProviderError,
    FinalError,
    InstanceConflictError,
    InstanceNotFoundError,
    RetryableError,
)
from gpu_provisioner.cloudprovider.naming import pool_name_for
from gpu_provisioner.controllers.machine.conditions import set_condition
from gpu_provisioner.controllers.machine.context import Deps, Pass
from gpu_provisioner.controllers.machine.launch import error_message, error_reason
from gpu_provisioner.controllers.machine.objects import (
    has_finalizer,
    node_owner_machine,
    node_pool_name,
    provider_id_of,
    same_provider_id,
    status_of,
)
from gpu_provisioner.controllers.operations import CREATE, DELETE, Pending
from kaito.api.constants import MACHINE_CONDITION_TERMINATED, MACHINE_TERMINATION_FINALIZER
from kaito.runtime.objects import Obj, is_deleting, meta, name_of


def nodes_of_machine(machine: Obj, nodes: list[Obj]) -> list[Obj]:
    """Nodes backed by this Machine: same providerID, owned by it, or in its agent pool."""
    provider_id = status_of(machine).get("providerID")
    uid = meta(machine).get("uid")
    pool = pool_name_for(name_of(machine))
    out = []
    for node in nodes:
        owner = node_owner_machine(node)
        if (
            same_provider_id(provider_id_of(node), provider_id)
            or (owner is not None and owner[1] == uid)
            or node_pool_name(node) == pool
        ):
            out.append(node)
    return out


async def delete_nodes(deps: Deps, nodes: list[Obj]) -> None:
    for node in nodes:
        if is_deleting(node):
            continue
        name = name_of(node)
        # Cordon first so nothing new lands on it while it goes; a Node already gone needs nothing.
        if not (node.get("spec") or {}).get("unschedulable") and (
            await deps.kube.patch_node(name, {"spec": {"unschedulable": True}}) is None
        ):
            continue
        if await deps.kube.delete_node(name):
            deps.metrics.nodes_terminated.labels(deps.metrics.provider).inc()


async def _record_failure(deps: Deps, p: Pass, err: BaseException) -> None:
    """Says on the Machine why its capacity is not released yet, for whoever waits on it (the Workspace's
    WorkspaceDeleting condition names it). Written only when it changes: retries repeat the same error."""
    status = dict(status_of(p.machine))
    set_condition(
        status,
        MACHINE_CONDITION_TERMINATED,
        "False",
        now=p.now,
        reason=error_reason(err),
        message=f"cloud delete failed: {error_message(err)}",
    )
    if status != status_of(p.machine):
        await deps.kube.patch_machine_status(p.name, {"status": status})


async def finalize(deps: Deps, p: Pass, nodes: list[Obj]) -> None:
    if not has_finalizer(p.machine):
        return
    # Stop waiting on our create; the cloud side of it is cleaned up by the delete below.
    deps.tracker.cancel(p.name, CREATE)

    mine = nodes_of_machine(p.machine, nodes)
    if mine:
        await delete_nodes(deps, mine)
        p.log.info("waiting for nodes to go", nodes=[name_of(n) for n in mine])
        p.requeue(min(2.0, deps.settings.poll_interval))
        return

    polled = deps.tracker.poll(p.name, DELETE)
    if polled is None:
        deps.tracker.start(p.name, DELETE, lambda: deps.provider.delete(p.name))
        p.log.info("deleting cloud capacity")
        p.requeue(deps.settings.poll_interval)
        return
    if isinstance(polled, Pending):
        p.requeue(deps.settings.poll_interval)
        return
    err = polled.error
    if err is None or isinstance(err, InstanceNotFoundError):
        # delete() returns only once the cloud has removed it; NotFound means nothing was left.
        pass
    elif isinstance(err, InstanceConflictError):
        # The cloud resource under this name is not ours: never delete it, and do not block the Machine.
        deps.kube.event(p.machine, "Warning", "TerminationSkipped", err.message)
        p.log.warning("cloud instance belongs to something else; not deleting it", error=err.message)
    else:
        hint = err.retry_after if isinstance(err, RetryableError) else None
        delay = deps.backoff.next_delay(f"{DELETE}/{p.name}", hint)
        deps.metrics.retry(DELETE)
        if isinstance(err, FinalError):
            # Keep the finalizer: releasing it would leak a billed node. An operator must fix access.
            deps.kube.event(p.machine, "Warning", "TerminationFailed", err.message)
        log_fn = p.log.warning if isinstance(err, CloudProviderError | TimeoutError) else p.log.error
        log_fn(
            "cloud delete failed, will retry",
            reason=error_reason(err),
            error=error_message(err),
            retry_in=delay,
        )
        await _record_failure(deps, p, err)
        p.requeue(delay)
        return

    deps.backoff.reset(f"{DELETE}/{p.name}")
    deps.backoff.reset(f"{CREATE}/{p.name}")
    finalizers = [f for f in meta(p.machine).get("finalizers") or [] if f != MACHINE_TERMINATION_FINALIZER]
    # The resourceVersion turns the list replacement into an optimistic write: a concurrent finalizer
    # change gives 409 and a requeue instead of being overwritten.
    await deps.kube.patch_machine(
        p.name,
        {"metadata": {"finalizers": finalizers, "resourceVersion": meta(p.machine).get("resourceVersion")}},
    )
    reason = deps.termination_reasons.pop(p.name, "deleted")
    deps.metrics.terminated(reason)
    deps.kube.event(p.machine, "Normal", "Terminated", "node and cloud capacity released")
    p.log.info("terminated", reason=reason)
