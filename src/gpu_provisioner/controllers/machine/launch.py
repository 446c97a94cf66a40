"""Launch: ask the cloud for the Machine's node and record what came back.

The create runs as a tracked task (it waits minutes for the pool); this stage starts it, returns,
and collects the outcome on a later pass. The cloud provider's create adopts an existing instance
for the same Machine name, so a restart mid-create, or a lost response, never makes a second pool.
A final error (quota, SKU, invalid request) is recorded once per Machine generation and not retried
until the spec changes or the annotation below is removed.
"""

from __future__ import annotations

import asyncio

from gpu_provisioner.cloudprovider.api import (
    CloudProviderError,
    FinalError,
    Instance,
    InvalidRequestError,
    RetryableError,
)
from gpu_provisioner.controllers.machine.conditions import set_condition
from gpu_provisioner.controllers.machine.context import Deps, Pass
from gpu_provisioner.controllers.machine.request import instance_type_of, node_request_for, requirement_labels
from gpu_provisioner.controllers.operations import CREATE, GC_DELETE, Outcome, Pending
from kaito.api.constants import ANNOTATION_MACHINE_LINKED, LABEL_INSTANCE_TYPE, MACHINE_CONDITION_LAUNCHED
from kaito.api.labels import is_reserved
from kaito.runtime.objects import condition_is, find_condition, meta

ANNOTATION_FINAL_ERROR_GENERATION = "gpu-provisioner.kaito.sh/launch-failed-generation"


class RetriesExhaustedError(FinalError):
    """Retryable failures went on for longer than the launch retry budget."""


def error_reason(err: BaseException) -> str:
    """``QuotaExceededError`` -> ``QuotaExceeded``: a short, bounded reason for conditions and metrics."""
    name = type(err).__name__
    return name[: -len("Error")] if name.endswith("Error") and len(name) > 5 else name


def error_message(err: BaseException) -> str:
    if isinstance(err, CloudProviderError):
        return err.message
    if isinstance(err, TimeoutError):
        return "cloud operation timed out; retrying"
    return str(err) or type(err).__name__


async def launch(deps: Deps, p: Pass) -> bool:
    """Returns True once the Machine is launched (later stages may run)."""
    launched = condition_is(p.status.get("conditions"), MACHINE_CONDITION_LAUNCHED, "True")
    if launched and p.status.get("providerID"):
        return True
    generation = str(meta(p.machine).get("generation", ""))
    if p.annotations.get(ANNOTATION_FINAL_ERROR_GENERATION) == generation and not deps.tracker.running(
        p.name, CREATE
    ):
        # Already failed for this spec with an error retrying cannot fix.
        return False

    if deps.tracker.running(p.name, GC_DELETE):
        # GC is removing an orphan of an earlier Machine with this name; creating now would adopt a
        # pool that is about to disappear.
        p.requeue(deps.settings.poll_interval)
        return False

    polled = deps.tracker.poll(p.name, CREATE)
    if polled is None:
        try:
            request = node_request_for(p.machine)
        except InvalidRequestError as err:
            _fail_final(deps, p, err, generation)
            return False
        deps.tracker.start(p.name, CREATE, lambda: deps.provider.create(request))
        p.log.info("launching", instance_type=request.instance_type)
        if find_condition(p.status.get("conditions"), MACHINE_CONDITION_LAUNCHED) is None:
            set_condition(
                p.status,
                MACHINE_CONDITION_LAUNCHED,
                "Unknown",
                now=p.now,
                reason="Launching",
                message=f"creating {request.instance_type} capacity",
            )
        p.requeue(deps.settings.poll_interval)
        return False
    if isinstance(polled, Pending):
        p.requeue(deps.settings.poll_interval)
        return False
    return _collect(deps, p, polled, generation)


def _collect(deps: Deps, p: Pass, outcome: Outcome, generation: str) -> bool:
    err = outcome.error
    if err is None:
        instance = outcome.value
        if not isinstance(instance, Instance) or not instance.provider_id:
            # Running but without a Node yet; asking again adopts the same instance.
            p.requeue(deps.settings.poll_interval)
            return False
        _record(deps, p, instance)
        return True
    if isinstance(err, FinalError):
        _fail_final(deps, p, err, generation)
        return False
    if isinstance(err, asyncio.CancelledError):
        p.requeue(deps.settings.poll_interval)
        return False
    key = f"{CREATE}/{p.name}"
    if deps.backoff.attempts(key) >= deps.settings.max_launch_retries:
        # Bounded: past this many consecutive failures the Machine shows it and waits for a human (a spec
        # change or removing the annotation retries), instead of hammering a cloud that keeps refusing.
        attempts = deps.backoff.attempts(key)
        exhausted = RetriesExhaustedError(
            f"gave up after {attempts} failed launch attempts; last error: {error_message(err)}"
        )
        _fail_final(deps, p, exhausted, generation)
        return False
    hint = err.retry_after if isinstance(err, RetryableError) else None
    delay = deps.backoff.next_delay(key, hint)
    deps.metrics.launch_failures.labels(deps.metrics.provider, error_reason(err), "false").inc()
    deps.metrics.retry(CREATE)
    if not isinstance(err, CloudProviderError | TimeoutError):
        p.log.error("launch failed unexpectedly", error=repr(err), retry_in=delay)
    else:
        p.log.warning(
            "launch failed, will retry", reason=error_reason(err), error=error_message(err), retry_in=delay
        )
    set_condition(
        p.status,
        MACHINE_CONDITION_LAUNCHED,
        "False",
        now=p.now,
        reason=error_reason(err),
        message=error_message(err),
    )
    p.requeue(delay)
    return False


def _fail_final(deps: Deps, p: Pass, err: CloudProviderError, generation: str) -> None:
    reason = error_reason(err)
    p.log.warning("launch failed permanently", reason=reason, error=err.message)
    deps.metrics.launch_failures.labels(deps.metrics.provider, reason, "true").inc()
    deps.backoff.reset(f"{CREATE}/{p.name}")
    set_condition(
        p.status, MACHINE_CONDITION_LAUNCHED, "False", now=p.now, reason=reason, message=err.message
    )
    p.annotations[ANNOTATION_FINAL_ERROR_GENERATION] = generation
    deps.kube.event(p.machine, "Warning", "LaunchFailed", err.message)


def _record(deps: Deps, p: Pass, instance: Instance) -> None:
    deps.backoff.reset(f"{CREATE}/{p.name}")
    p.status["providerID"] = instance.provider_id
    if instance.capacity:
        p.status["capacity"] = dict(instance.capacity)
    if instance.allocatable:
        p.status["allocatable"] = dict(instance.allocatable)
    # karpenter's PopulateMachineDetails order: cloud labels, then requirements, then the user's. A Machine's
    # own labels never set keys Kubernetes reserves: those come only from the cloud and the requirements.
    user_labels = {k: v for k, v in p.labels.items() if not is_reserved(k)}
    p.labels = {**dict(instance.labels), **requirement_labels(p.machine), **user_labels}
    p.labels.setdefault(LABEL_INSTANCE_TYPE, instance.instance_type or instance_type_of(p.machine) or "")
    p.annotations[ANNOTATION_MACHINE_LINKED] = str(instance.provider_id)
    p.annotations.pop(ANNOTATION_FINAL_ERROR_GENERATION, None)
    set_condition(p.status, MACHINE_CONDITION_LAUNCHED, "True", now=p.now)
    deps.metrics.machines_created.labels(deps.metrics.provider).inc()
    deps.kube.event(p.machine, "Normal", "Launched", f"launched {instance.instance_type} as {instance.name}")
    p.log.info("launched", instance=instance.name, provider_id=instance.provider_id)
