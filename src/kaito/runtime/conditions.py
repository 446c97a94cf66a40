"""Status conditions on plain dicts with ``metav1.Condition`` semantics (apimachinery's
``meta.SetStatusCondition``): ``lastTransitionTime`` moves only when a condition's status changes, so
recomputing an unchanged status yields an identical list: no write, and no update event that would
requeue the object forever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kaito.runtime.objects import Obj
from kaito.runtime.timefmt import rfc3339

MAX_MESSAGE_LEN = 32768
"""metav1.Condition's limit on ``message``."""


def make_condition(
    previous: Mapping[str, Any] | None,
    condition_type: str,
    status: str,
    *,
    now: datetime,
    reason: str | None = None,
    message: str | None = None,
    observed_generation: int | None = None,
    max_message_len: int = MAX_MESSAGE_LEN,
    **extra: str,
) -> Obj:
    """The condition to store in place of ``previous`` (the one of the same type, or None): its
    ``lastTransitionTime`` is kept when the status is unchanged, else it is ``now``. A reason or message
    of None, and empty extra fields (e.g. Knative's ``severity``), are left out."""
    condition: Obj = {"type": condition_type, "status": status}
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    kept = previous.get("lastTransitionTime") if previous is not None else None
    same = previous is not None and previous.get("status") == status
    condition["lastTransitionTime"] = str(kept) if same and kept else rfc3339(now)
    if reason is not None:
        condition["reason"] = reason
    if message is not None:
        condition["message"] = message[:max_message_len]
    condition.update({k: v for k, v in extra.items() if v})
    return condition


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    condition_type: str,
    status: str,
    *,
    now: datetime,
    **fields: Any,
) -> list[Obj]:
    """``conditions`` with the one of ``condition_type`` replaced (or appended) as :func:`make_condition`
    builds it from ``fields`` (reason, message, observed_generation, ...); the others are copied unchanged
    and in order."""
    result = [dict(c) for c in conditions or []]
    index = next((i for i, c in enumerate(result) if c.get("type") == condition_type), None)
    previous = result[index] if index is not None else None
    new = make_condition(previous, condition_type, status, now=now, **fields)
    if index is None:
        result.append(new)
    else:
        result[index] = new
    return result
