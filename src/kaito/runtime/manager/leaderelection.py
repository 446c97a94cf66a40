"""Leader election on a ``coordination.k8s.io/v1`` Lease (client-go ``tools/leaderelection``).

* Acquire: try every ``retry_period`` (jittered by a factor in [1, 1.2)); a lease held by someone
  else counts as held until ``leaseDurationSeconds`` pass **on our monotonic clock** since we last
  saw its record change (other nodes' timestamps are never trusted, so clock skew does not matter).
* Renew: every ``retry_period``; if no renewal succeeds within ``renew_deadline`` the lease is lost.
* Writes are PUTs carrying the last-read resourceVersion: a concurrent writer gets 409 and loses.
* A new holder keeps nothing of the old record but increments ``leaseTransitions``.
* Release (on graceful shutdown): clear ``holderIdentity`` with ``leaseDurationSeconds=1`` so a standby
  takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from kaito.runtime.client import kinds
from kaito.runtime.client.client import Client
from kaito.runtime.client.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from kaito.runtime.metrics.registry import RuntimeMetrics
from kaito.runtime.timefmt import micro_time

JITTER_FACTOR = 1.2

_log = structlog.get_logger("kaito.runtime.leaderelection")


class LeaderElector:
    """Competes for the Lease ``namespace/name`` as ``identity``.

    :meth:`run` returns only when leadership is lost (``on_stopped_leading`` has been called) or the task is
    cancelled. ``on_started_leading``/``on_stopped_leading`` are plain callables invoked on the loop.
    """

    def __init__(
        self,
        client: Client,
        name: str,
        namespace: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        metrics: RuntimeMetrics | None = None,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        if not lease_duration > renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not renew_deadline > JITTER_FACTOR * retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 * retry_period")
        if retry_period <= 0:
            raise ValueError("retry_period must be positive")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.metrics = metrics
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.is_leader = False
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self._log = _log.bind(lease=f"{namespace}/{name}", identity=identity)
        if metrics is not None:
            metrics.leader_election_master_status.labels(name=name).set(0)

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        if self.metrics is not None:
            self.metrics.leader_election_master_status.labels(name=self.name).set(1 if leader else 0)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease afterwards."""
        now = datetime.now(UTC)
        mono = time.monotonic()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.lease_duration),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": 0,
        }
        try:
            lease = await self.client.get(kinds.LEASE, self.namespace, self.name)
        except NotFoundError:
            body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                self._lease = await self.client.create(kinds.LEASE, body)
            except AlreadyExistsError:
                return False
            self._observed_spec, self._observed_at = dict(spec), mono
            return True
        old = lease.get("spec") or {}
        if old != self._observed_spec:
            self._observed_spec, self._observed_at = dict(old), mono
        holder = str(old.get("holderIdentity") or "")
        duration = float(old.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and self._observed_at + duration > mono:
            return False
        if holder == self.identity:
            spec["acquireTime"] = old.get("acquireTime") or spec["acquireTime"]
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0)
        else:
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        updated = {**lease, "spec": {**old, **spec}}
        try:
            self._lease = await self.client.update(kinds.LEASE, updated)
        except ConflictError:
            return False
        self._observed_spec, self._observed_at = dict(updated["spec"]), mono
        return True

    async def _attempt(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            return await asyncio.wait_for(self.try_acquire_or_renew(), timeout)
        except asyncio.CancelledError:
            raise
        except (ApiError, TimeoutError, OSError, Exception) as exc:
            self._log.info("lease attempt failed", error=repr(exc))
            return False

    def _until_expiry(self) -> float:
        """Seconds until the observed holder's lease expires on our clock (0 if unknown or expired)."""
        if self._observed_spec is None:
            return 0.0
        duration = float(self._observed_spec.get("leaseDurationSeconds") or self.lease_duration)
        return max(0.0, self._observed_at + duration - time.monotonic())

    async def _acquire(self) -> None:
        self._log.info("attempting to acquire leader lease")
        while True:
            if await self._attempt(self.renew_deadline):
                return
            delay = self.retry_period * random.uniform(1.0, JITTER_FACTOR)
            # Wake right when the observed lease expires rather than up to a retry period later: this
            # bounds failover at about lease_duration + retry_period.
            expiry = self._until_expiry()
            if expiry > 0:
                delay = min(delay, expiry + 0.05)
            await asyncio.sleep(delay)

    async def _renew_until_lost(self) -> None:
        while True:
            await asyncio.sleep(self.retry_period)
            deadline = time.monotonic() + self.renew_deadline
            renewed = False
            while not renewed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                renewed = await self._attempt(left)
                if not renewed:
                    await asyncio.sleep(min(self.retry_period, max(0.0, deadline - time.monotonic())))

    async def run(self) -> None:
        """Acquires, then renews until the lease is lost. Cancel the task to stop (then :meth:`release`)."""
        try:
            await self._acquire()
            self._set_leader(True)
            self._log.info("became leader")
            if self.on_started_leading is not None:
                self.on_started_leading()
            await self._renew_until_lost()
            self._log.error("leader lease lost")
        finally:
            was_leader = self.is_leader
            self._set_leader(False)
            if was_leader and self.on_stopped_leading is not None:
                self.on_stopped_leading()

    async def release(self) -> bool:
        """Gives the lease up if we hold it (``holderIdentity`` cleared). Best effort; True on success."""
        try:
            lease = await self.client.get(kinds.LEASE, self.namespace, self.name)
        except (ApiError, OSError, TimeoutError) as exc:
            self._log.warning("lease release failed", error=repr(exc))
            return False
        old = lease.get("spec") or {}
        if old.get("holderIdentity") != self.identity:
            return False
        now = micro_time()
        spec = {**old, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now}
        with contextlib.suppress(ApiError, OSError, TimeoutError):
            await self.client.update(kinds.LEASE, {**lease, "spec": spec})
            self._log.info("released leader lease")
            return True
        return False
