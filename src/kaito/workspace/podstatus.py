"""Why a workload's pods are not ready, in the words a user can act on.

Upstream issue #1493: a workspace reported InferenceReady while its pod was OOM-looping. Reading the
pods' own status gives the condition a reason (ImagePullBackOff, CrashLoopBackOff, OOMKilled,
Unschedulable, ...) instead of a bare "not ready".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kaito.runtime.objects import get_path, name_of

_IMAGE_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
_WAITING_REASONS = _IMAGE_REASONS | {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass(frozen=True)
class PodProblem:
    reason: str
    message: str


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [
        c
        for key in ("initContainerStatuses", "containerStatuses")
        for c in status.get(key) or []
        if isinstance(c, Mapping)
    ]


TERMINATION_MESSAGE_CHARS = 1000
# A container that exited non-zero and stays so (a Job's): the workload ran and failed.
REASON_CONTAINER_FAILED = "ContainerFailed"


def pod_problem(pod: Mapping[str, Any]) -> PodProblem | None:
    """The most specific reason this pod is not running, or None if nothing is wrong (yet)."""
    status = pod.get("status") or {}
    name = name_of(pod)
    if status.get("reason") == "Evicted":
        return PodProblem("PodEvicted", f"pod {name}: {status.get('message', 'evicted')}")
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return PodProblem("Unschedulable", f"pod {name}: {condition.get('message', 'unschedulable')}")
    for container in _container_statuses(pod):
        waiting = get_path(container, "state", "waiting") or {}
        reason = waiting.get("reason")
        if reason in _WAITING_REASONS:
            last = get_path(container, "lastState", "terminated") or {}
            if reason == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                return PodProblem("OOMKilled", f"pod {name}: container {container.get('name')} was OOMKilled")
            return PodProblem(
                str(reason),
                f"pod {name}: container {container.get('name')}: {waiting.get('message') or reason}",
            )
        terminated = get_path(container, "state", "terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return PodProblem("OOMKilled", f"pod {name}: container {container.get('name')} was OOMKilled")
        if int(terminated.get("exitCode") or 0) != 0:
            # A Job's pod stays terminated; its termination message is the workload's own reason (the
            # trainer writes why it rejected its input, e.g. the data set's missing column).
            said = str(terminated.get("message") or "").strip()[-TERMINATION_MESSAGE_CHARS:]
            return PodProblem(
                REASON_CONTAINER_FAILED,
                f"pod {name}: container {container.get('name')} exited {terminated.get('exitCode')}"
                + (f": {said}" if said else ""),
            )
    return None


def first_problem(pods: Iterable[Mapping[str, Any]]) -> PodProblem | None:
    for pod in sorted(pods, key=name_of):
        problem = pod_problem(pod)
        if problem is not None:
            return problem
    return None
