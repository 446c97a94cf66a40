"""Knative-style Machine conditions, set with the runtime's metav1 semantics (see
:mod:`kaito.runtime.conditions`): a stable transition time and a stable order, so an unchanged status is
byte-identical between passes and costs no write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kaito.api.constants import MACHINE_CONDITION_READY, MACHINE_LIVING_CONDITIONS
from kaito.runtime import conditions
from kaito.runtime.objects import find_condition

# Upstream gpu-provisioner truncates cloud messages to 800 characters; they stay readable in kubectl.
MAX_MESSAGE_LEN = 800


def set_condition(
    status: dict[str, Any],
    cond_type: str,
    value: str,
    *,
    now: datetime,
    reason: str | None = None,
    message: str | None = None,
    severity: str | None = None,
) -> None:
    """Sets one condition in ``status`` (in place), keeping the transition time unless status flips."""
    updated = conditions.set_condition(
        status.get("conditions"),
        cond_type,
        value,
        now=now,
        reason=reason or None,
        message=message or None,
        max_message_len=MAX_MESSAGE_LEN,
        severity=severity or "",
    )
    status["conditions"] = sorted(updated, key=lambda c: str(c.get("type")))


def derive_ready(status: dict[str, Any], *, now: datetime, unhealthy: tuple[str, str] | None = None) -> None:
    """Ready is True when Launched, Registered and Initialized all are; else it mirrors the first that is
    not, so ``kubectl get machine`` shows why (the cloud's quota message, NodeNotFound, ...).
    ``unhealthy`` (reason, message) makes an otherwise Ready Machine not Ready (its Node was lost)."""
    for cond_type in MACHINE_LIVING_CONDITIONS:
        cond = find_condition(status.get("conditions"), cond_type)
        if cond is None or cond.get("status") != "True":
            value = "Unknown" if cond is None else str(cond.get("status"))
            reason = "NotLaunched" if cond is None else cond.get("reason")
            message = f"{cond_type} is not yet known" if cond is None else cond.get("message")
            set_condition(status, MACHINE_CONDITION_READY, value, now=now, reason=reason, message=message)
            return
    if unhealthy is not None:
        set_condition(
            status, MACHINE_CONDITION_READY, "False", now=now, reason=unhealthy[0], message=unhealthy[1]
        )
        return
    set_condition(status, MACHINE_CONDITION_READY, "True", now=now)
