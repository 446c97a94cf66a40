"""Workspace status computed from what the controller observes, never set step by step.

Each reconcile builds an :class:`Observation` (nodes, Machines, workload, pods) and :func:`compute_status`
turns it into the whole ``status``: conditions, ``state``, ``workerNodes``. The reconciler writes it only
when it differs from what is stored, so a steady workspace costs no writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kaito.api.constants import (
    ANNOTATION_FORCE_RELEASE,
    CONDITION_INFERENCE_READY,
    CONDITION_JOB_STARTED,
    CONDITION_RESOURCE_READY,
    CONDITION_WORKSPACE_DELETING,
    CONDITION_WORKSPACE_READY,
    CONDITION_WORKSPACE_SUCCEEDED,
    STATE_DELETING,
    STATE_FAILED,
    STATE_PENDING,
    STATE_PROVISIONING,
    STATE_READY,
    STATE_RUNNING,
    STATE_SUCCEEDED,
)
from kaito.runtime.conditions import make_condition
from kaito.runtime.objects import conditions_of, generation_of, get_path
from kaito.workspace import names as n
from kaito.workspace.podstatus import REASON_CONTAINER_FAILED, PodProblem


@dataclass(frozen=True)
class Cond:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class ResourceObservation:
    ready: bool
    reason: str
    message: str
    worker_nodes: Sequence[str] = ()
    failed: bool = False
    provisioning: bool = False


@dataclass(frozen=True)
class Observation:
    workspace: Mapping[str, Any]
    resource: ResourceObservation
    is_tuning: bool = False
    preset_error: str | None = None
    # (reason, message) when the workload cannot be built or written: a missing ConfigMap, a manifest
    # the apiserver rejects.
    workload_error: tuple[str, str] | None = None
    workload: Mapping[str, Any] | None = None
    job: Mapping[str, Any] | None = None
    pod_problem: PodProblem | None = None
    # Services applied in the background that the cache does not show yet: no endpoint, so not Ready.
    pending_services: tuple[str, ...] = ()
    # The adapter a succeeded tuning Job pushed (reference with digest), from its pusher's last word.
    published_image: str | None = None
    # Which runtime a preset is served with and why ("serving with vllm: catalog runtime vllm, ...").
    runtime: str | None = None


def workload_ready(workload: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether a Deployment/StatefulSet has all replicas of its current template ready."""
    if workload is None:
        return False, "the workload has not been created yet"
    desired = int(
        get_path(workload, "spec", "replicas") if get_path(workload, "spec", "replicas") is not None else 1
    )
    status = workload.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= generation_of(workload)
    if observed and ready >= desired and updated >= desired:
        return True, f"{ready}/{desired} replicas ready"
    return False, f"{ready}/{desired} replicas ready"


@dataclass(frozen=True)
class JobState:
    started: bool
    succeeded: bool
    failed: bool
    reason: str
    message: str


def job_state(job: Mapping[str, Any] | None) -> JobState:
    if job is None:
        return JobState(False, False, False, n.REASON_JOB_PENDING, "the tuning Job has not been created yet")
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState(True, True, False, n.REASON_JOB_SUCCEEDED, "the tuning Job succeeded")
        if condition.get("type") in ("Failed", "FailureTarget"):
            reason = str(condition.get("reason") or n.REASON_JOB_FAILED)
            return JobState(
                True, False, True, reason, str(condition.get("message") or "the tuning Job failed")
            )
    if int(status.get("active") or 0) > 0 or int(status.get("succeeded") or 0) > 0:
        return JobState(True, False, False, n.REASON_JOB_STARTED, "the tuning Job is running")
    return JobState(False, False, False, n.REASON_JOB_PENDING, "the tuning Job's pod has not started")


def _desired_conditions(obs: Observation) -> tuple[list[Cond], str]:
    res = obs.resource
    conds: list[Cond] = []
    blocking: Cond
    if obs.preset_error:
        resource = Cond(CONDITION_RESOURCE_READY, "False", n.REASON_INVALID_PRESET, obs.preset_error)
    elif res.ready:
        resource = Cond(CONDITION_RESOURCE_READY, "True", res.reason, res.message)
    else:
        resource = Cond(CONDITION_RESOURCE_READY, "False", res.reason, res.message)
    conds.append(resource)
    failed = bool(obs.preset_error) or res.failed
    workload_type = CONDITION_JOB_STARTED if obs.is_tuning else CONDITION_INFERENCE_READY
    if resource.status != "True":
        blocking = Cond(
            workload_type, "False", n.REASON_RESOURCES_PENDING, "waiting for GPU nodes: " + resource.message
        )
        conds.append(blocking)
        summary = Cond(CONDITION_WORKSPACE_READY, "False", resource.reason, resource.message)
        state = (
            STATE_FAILED
            if failed
            else (STATE_PROVISIONING if res.provisioning or res.worker_nodes else STATE_PENDING)
        )
    elif obs.workload_error:
        reason, message = obs.workload_error
        conds.append(Cond(workload_type, "False", reason, message))
        summary = Cond(CONDITION_WORKSPACE_READY, "False", reason, message)
        state = STATE_FAILED
    elif obs.is_tuning:
        js = job_state(obs.job)
        if js.failed:
            conds.append(Cond(CONDITION_JOB_STARTED, "True", n.REASON_JOB_STARTED, "the tuning Job started"))
            message = js.message
            if obs.pod_problem is not None:
                message = f"{obs.pod_problem.message} ({js.message})"
            summary = Cond(CONDITION_WORKSPACE_READY, "False", js.reason, message)
            state = STATE_FAILED
        elif js.succeeded:
            conds.append(Cond(CONDITION_JOB_STARTED, "True", n.REASON_JOB_STARTED, "the tuning Job started"))
            message = js.message
            if obs.published_image:
                message = f"{message}; the adapter was pushed as {obs.published_image}"
            summary = Cond(CONDITION_WORKSPACE_READY, "True", n.REASON_WORKSPACE_SUCCEEDED, message)
            state = STATE_SUCCEEDED
        elif js.started and obs.pod_problem is not None and obs.pod_problem.reason != REASON_CONTAINER_FAILED:
            # The Job counts a pod that cannot run (unschedulable, image not pulled) as active.
            problem = obs.pod_problem
            conds.append(Cond(CONDITION_JOB_STARTED, "False", problem.reason, problem.message))
            summary = Cond(CONDITION_WORKSPACE_READY, "False", problem.reason, problem.message)
            state = STATE_PENDING
        elif js.started:
            conds.append(Cond(CONDITION_JOB_STARTED, "True", js.reason, js.message))
            summary = Cond(CONDITION_WORKSPACE_READY, "False", js.reason, js.message)
            state = STATE_RUNNING
        else:
            reason, message = js.reason, js.message
            if obs.pod_problem is not None:
                reason, message = obs.pod_problem.reason, obs.pod_problem.message
            conds.append(Cond(CONDITION_JOB_STARTED, "False", reason, message))
            summary = Cond(CONDITION_WORKSPACE_READY, "False", reason, message)
            state = STATE_PENDING
    else:
        ready, detail = workload_ready(obs.workload)
        if ready and not obs.pending_services:
            conds.append(
                Cond(
                    CONDITION_INFERENCE_READY,
                    "True",
                    n.REASON_INFERENCE_READY,
                    f"inference is ready: {detail}" + (f"; {obs.runtime}" if obs.runtime else ""),
                )
            )
            summary = Cond(CONDITION_WORKSPACE_READY, "True", n.REASON_WORKSPACE_READY, "workspace is ready")
            state = STATE_READY
        else:
            reason, message = n.REASON_WORKLOAD_PENDING, detail
            if obs.pod_problem is not None:
                reason, message = obs.pod_problem.reason, obs.pod_problem.message
            elif ready:
                message = "waiting for Service " + ", ".join(obs.pending_services)
            conds.append(Cond(CONDITION_INFERENCE_READY, "False", reason, message))
            summary = Cond(CONDITION_WORKSPACE_READY, "False", reason, message)
            state = STATE_RUNNING
    conds.append(summary)
    return conds, state


_VOLATILE_MESSAGE_REASONS = {"Unschedulable"}


def _merge(
    old: Sequence[Mapping[str, Any]], desired: Sequence[Cond], generation: int, now: datetime
) -> list[dict[str, Any]]:
    """The desired conditions with metav1 semantics (:func:`make_condition`), so recomputing an unchanged
    status yields an identical list (no write, no self-triggered hot loop)."""
    previous = {str(c.get("type")): c for c in old}
    merged: list[dict[str, Any]] = []
    for cond in desired:
        before = previous.get(cond.type)
        message = cond.message
        if (
            before is not None
            and before.get("status") == cond.status
            and before.get("reason") == cond.reason
            and cond.reason in _VOLATILE_MESSAGE_REASONS
        ):
            # The scheduler's message embeds live node counts ("0/51 nodes are available"); rewriting the
            # status each time one changes would be churn, not news.
            message = str(before.get("message") or message)
        merged.append(
            make_condition(
                before,
                cond.type,
                cond.status,
                now=now,
                reason=cond.reason,
                message=message,
                observed_generation=generation,
            )
        )
    return merged


def compute_status(obs: Observation, now: datetime | None = None) -> dict[str, Any]:
    """The full ``status`` for a live (not deleting) workspace."""
    desired, state = _desired_conditions(obs)
    generation = generation_of(obs.workspace)
    status: dict[str, Any] = {
        "conditions": _merge(conditions_of(obs.workspace), desired, generation, now or datetime.now(UTC)),
        "state": state,
        "observedGeneration": generation,
    }
    if obs.resource.worker_nodes:
        status["workerNodes"] = sorted(obs.resource.worker_nodes)
    if state == STATE_SUCCEEDED:
        # The pods may be gone later (a node drained, pod GC): what was published stays published.
        pushed = obs.published_image or get_path(obs.workspace, "status", "outputImage")
        if pushed:
            status["outputImage"] = pushed
    return status


def deleting_status(
    workspace: Mapping[str, Any], remaining: int, now: datetime | None = None, blocked: Sequence[str] = ()
) -> dict[str, Any]:
    """The status while the finalizer waits for the Machines to go: the old conditions kept, plus
    ``WorkspaceDeleting``, whose message says which Machines cannot be released and the cloud's error
    (``blocked``)."""
    generation = generation_of(workspace)
    old = [c for c in conditions_of(workspace) if c.get("type") != CONDITION_WORKSPACE_DELETING]
    desired = [
        Cond(
            str(c.get("type")), str(c.get("status")), str(c.get("reason") or ""), str(c.get("message") or "")
        )
        for c in old
    ]
    message = f"waiting for {remaining} machine(s) to be deleted" if remaining else "cleaning up"
    reason = n.REASON_WORKSPACE_DELETING
    if blocked:
        reason = n.REASON_MACHINE_RELEASE_FAILED
        message = (
            f"{message}: {'; '.join(blocked)}. The provisioner keeps retrying; an admin can release the "
            f'Workspace now with the annotation {ANNOTATION_FORCE_RELEASE}="true" (the Machines are left to '
            "the provisioner)"
        )
    desired.append(Cond(CONDITION_WORKSPACE_DELETING, "True", reason, message))
    merged = _merge(conditions_of(workspace), desired, generation, now or datetime.now(UTC))
    for item, before in zip(merged, old, strict=False):
        # Keep the old conditions exactly as they were: their generation is the one they were computed at.
        item["observedGeneration"] = before.get("observedGeneration", generation)
    status: dict[str, Any] = {
        "conditions": merged,
        "state": STATE_DELETING,
        "observedGeneration": generation,
    }
    workers = get_path(workspace, "status", "workerNodes")
    if workers:
        status["workerNodes"] = list(workers)
    return status


@dataclass(frozen=True)
class Transition:
    type: str
    status: str
    reason: str
    message: str
    warning: bool


_PROGRESS_REASONS = {
    n.REASON_MACHINE_PENDING,
    n.REASON_NODES_NOT_READY,
    n.REASON_RESOURCES_PENDING,
    n.REASON_WORKLOAD_PENDING,
    n.REASON_JOB_PENDING,
    n.REASON_JOB_STARTED,
    n.REASON_WORKSPACE_DELETING,
}


# Conditions whose turning True is news on its own; the others (ResourceReady, InferenceReady, ...) are steps
# that the summary condition reports, and `kubectl describe` shows their times in the conditions anyway.
_NEWS_CONDITIONS = {CONDITION_WORKSPACE_READY, CONDITION_WORKSPACE_SUCCEEDED, CONDITION_JOB_STARTED}


def transitions(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Transition]:
    """Condition changes worth an Event: every failure (a Warning), a recovery from one, and the outcome
    (WorkspaceReady, WorkspaceSucceeded, JobStarted turning True, or False again). Progress is no news:
    at 200 workspaces an Event per step would double the writes of a rollout, all of them on the apiserver
    the rollout waits on."""
    before = {str(c.get("type")): c for c in conditions_of(old)}
    out: list[Transition] = []
    for cond in new.get("conditions") or []:
        prev = before.get(cond["type"])
        if prev is not None and prev.get("status") == cond["status"] and prev.get("reason") == cond["reason"]:
            continue
        warning = cond["status"] == "False" and cond["reason"] not in _PROGRESS_REASONS
        recovered = (
            cond["status"] == "True"
            and prev is not None
            and prev.get("status") == "False"
            and prev.get("reason") not in _PROGRESS_REASONS
        )
        # The outcome, and its loss (a Ready workspace whose pods went away, a rollout in progress).
        outcome = cond["type"] in _NEWS_CONDITIONS and (
            cond["status"] == "True" or (prev is not None and prev.get("status") == "True")
        )
        if warning or recovered or outcome:
            out.append(Transition(cond["type"], cond["status"], cond["reason"], cond["message"], warning))
    return out
