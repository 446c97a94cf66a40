"""Knative-style Machine conditions on plain dicts.

``lastTransitionTime`` changes only when a condition's status flips: rewriting it on every pass
would make each status write an update event that requeues the Machine forever.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kaito.api.constants import MACHINE_CONDITION_READY, MACHINE_LIVING_CONDITIONS

# Upstream gpu-provisioner truncates cloud messages to 800 characters; they stay readable in kubectl.
MAX_MESSAGE_LEN = 800

Condition = dict[str, Any]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def get_condition(status: dict[str, Any], cond_type: str) -> Condition | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == cond_type:
            return dict(cond)
    return None


def is_true(status: dict[str, Any], cond_type: str) -> bool:
    cond = get_condition(status, cond_type)
    return cond is not None and cond.get("status") == "True"


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
    conditions: list[Condition] = [dict(c) for c in status.get("conditions") or []]
    previous = next((c for c in conditions if c.get("type") == cond_type), None)
    new: Condition = {"type": cond_type, "status": value}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message[:MAX_MESSAGE_LEN]
    if severity:
        new["severity"] = severity
    if previous is not None and previous.get("status") == value and previous.get("lastTransitionTime"):
        new["lastTransitionTime"] = previous["lastTransitionTime"]
    else:
        new["lastTransitionTime"] = format_time(now)
    if previous is None:
        conditions.append(new)
    else:
        conditions[conditions.index(previous)] = new
    # A stable order keeps the status byte-identical between passes, so an unchanged status is no write.
    conditions.sort(key=lambda c: str(c.get("type")))
    status["conditions"] = conditions


def derive_ready(status: dict[str, Any], *, now: datetime, unhealthy: tuple[str, str] | None = None) -> None:
    """Ready is True when Launched, Registered and Initialized all are; else it mirrors the first that is
    not, so ``kubectl get machine`` shows why (the cloud's quota message, NodeNotFound, ...).
    ``unhealthy`` (reason, message) makes an otherwise Ready Machine not Ready (its Node was lost)."""
    for cond_type in MACHINE_LIVING_CONDITIONS:
        cond = get_condition(status, cond_type)
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
