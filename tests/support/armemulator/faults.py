"""Fault injection: make the next matching request(s) fail the way ARM fails."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Fault:
    """Answer matching requests with ``status`` and an ARM error body instead of serving them.

    ``times``: how many matching requests to hit (None: all of them until removed).
    ``after_apply``: serve the request for real first (the pool *is* created), then answer with the
    fault anyway - a lost response, the case that tempts a client into making a duplicate.
    """

    method: str | None = None
    path: str = ""  # regex searched in the request path, case-insensitive
    status: int = 500
    code: str = "InternalServerError"
    message: str = "An internal server error occurred (injected)."
    retry_after: float | None = None
    times: int | None = 1
    after_apply: bool = False
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path, re.IGNORECASE) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


def throttle(
    method: str | None = None, path: str = "", times: int | None = 1, retry_after: float = 1
) -> Fault:
    return Fault(
        method=method,
        path=path,
        status=429,
        code="TooManyRequests",
        message="The request is being throttled (injected).",
        retry_after=retry_after,
        times=times,
    )


def server_error(
    method: str | None = None, path: str = "", times: int | None = 1, after_apply: bool = False
) -> Fault:
    return Fault(method=method, path=path, status=500, times=times, after_apply=after_apply)


def quota_exceeded(vm_family: str = "standardNCADSA100v4Family", times: int | None = None) -> Fault:
    return Fault(
        method="PUT",
        path=r"/agentPools/",
        status=400,
        code="QuotaExceeded",
        message=(
            "Preflight validation check for resource(s) for container service failed. Message: Operation"
            f" could not be completed as it results in exceeding approved {vm_family} Cores quota."
            " Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: 0,"
            " Current Usage: 0, Additional Required: 24, (Minimum) New Limit Required: 24."
        ),
        times=times,
    )
