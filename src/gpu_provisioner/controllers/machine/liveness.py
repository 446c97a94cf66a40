"""Liveness: a launched Machine whose Node has not registered within the TTL is deleted, so that a
node that never joins (bad image, broken network) does not bill forever. The TTL runs from the
last transition of the Registered condition, as upstream's."""

from __future__ import annotations

from gpu_provisioner.controllers.machine.context import Deps, Pass
from kaito.api.constants import MACHINE_CONDITION_REGISTERED
from kaito.runtime.objects import find_condition
from kaito.runtime.timefmt import parse_time

REASON = "liveness"


async def check_liveness(deps: Deps, p: Pass) -> None:
    cond = find_condition(p.status.get("conditions"), MACHINE_CONDITION_REGISTERED)
    if cond is None or cond.get("status") == "True":
        return
    since = parse_time(cond.get("lastTransitionTime"))
    if since is None:
        return
    age = (p.now - since).total_seconds()
    ttl = deps.settings.registration_ttl
    if age < ttl:
        p.requeue(max(1.0, ttl - age))
        return
    message = f"node did not register within {ttl:.0f}s; deleting the machine"
    p.log.warning("liveness: deleting machine", registered_for=age, ttl=ttl)
    deps.kube.event(p.machine, "Warning", "RegistrationTimeout", message)
    deps.termination_reasons[p.name] = REASON
    await deps.kube.delete_machine(p.name)
    p.deleted = True
