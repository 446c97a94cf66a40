"""Leader election: only the leader reconciles, failover within 20 s, no overlap, SIGTERM releases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kaito.runtime import Client, LeaderElectionLost, Manager, ManagerOptions, Request, kinds
from kaito.runtime.timefmt import micro_time

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(
        self, cluster: Any, tmp: Path, identity: str, namespace: str, lease: str, *extra: str
    ) -> None:
        self.identity = identity
        self.record = tmp / f"{identity}.jsonl"
        self.stderr_path = tmp / f"{identity}.log"
        self._stderr = self.stderr_path.open("w")
        self.popen = subprocess.Popen(
            [
                sys.executable, "-m", "tests.runtime.manager_proc",
                "--kubeconfig", str(cluster.kubeconfig), "--identity", identity, "--namespace", namespace,
                "--lease-name", lease, "--lease-namespace", namespace, "--record", str(self.record), *extra,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def records(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]

    def started_keys(self) -> set[str]:
        return {r["key"] for r in self.records() if r["event"] == "start"}

    def log_has(self, text: str) -> bool:
        return text in self.stderr_path.read_text()

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self._stderr.close()


async def wait_until(predicate: Any, within: float, what: str) -> float:
    start = time.monotonic()
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def holder(client: Client, namespace: str, lease: str) -> str:
    obj = await client.get_or_none(kinds.LEASE, namespace, lease)
    return str(((obj or {}).get("spec") or {}).get("holderIdentity") or "")


def intervals(proc: Proc, end_default: float) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    open_: dict[str, float] = {}
    for r in proc.records():
        if r["event"] == "start":
            open_[r["key"]] = r["t"]
        else:
            out.setdefault(r["key"], []).append((open_.pop(r["key"]), r["t"]))
    for key, t in open_.items():
        out.setdefault(key, []).append((t, end_default))
    return out


async def test_two_managers_failover(cluster: Any, rt_client: Client, namespace: str, tmp_path: Path) -> None:
    lease = "failover"
    a = Proc(cluster, tmp_path, "mgr-a", namespace, lease)
    b: Proc | None = None
    try:
        await wait_until(lambda: holder(rt_client, namespace, lease), 60, "a leader")
        assert await holder(rt_client, namespace, lease) == "mgr-a"
        b = Proc(cluster, tmp_path, "mgr-b", namespace, lease)
        proc_b = b
        await wait_until(lambda: proc_b.log_has("caches synced"), 60, "b synced")
        for i in range(10):
            await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": f"cm-{i}", "namespace": namespace}})
        want = {f"{namespace}/cm-{i}" for i in range(10)}
        await wait_until(lambda: want <= a.started_keys(), 30, "a reconciles everything")
        await asyncio.sleep(1)
        assert b.records() == [], "a non-leader must not reconcile"

        a.popen.kill()  # SIGKILL: no release, b must wait for expiry
        killed_at = time.time()
        a.popen.wait(10)
        took = await wait_until(lambda: _is(rt_client, namespace, lease, "mgr-b"), 25, "b takes over")
        print(f"failover took {took:.1f}s")
        assert took <= 20.0, f"failover took {took:.1f}s"
        for i in range(10, 13):
            await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": f"cm-{i}", "namespace": namespace}})
        want_b = {f"{namespace}/cm-{i}" for i in range(13)}
        await wait_until(lambda: want_b <= proc_b.started_keys(), 30, "b reconciles everything")
        assert all(r["t"] >= killed_at for r in b.records()), "b reconciled before a's lease expired"

        ia, ib = intervals(a, killed_at), intervals(b, time.time())
        for key in set(ia) & set(ib):
            for s1, e1 in ia[key]:
                for s2, e2 in ib[key]:
                    assert e1 <= s2 or e2 <= s1, f"{key} reconciled by both at once"

        # Graceful stop of the survivor: exit 0 and the lease is released.
        b.popen.send_signal(signal.SIGTERM)
        assert b.popen.wait(20) == 0
        assert await holder(rt_client, namespace, lease) == ""
    finally:
        a.close()
        if b is not None:
            b.close()


async def _is(client: Client, namespace: str, lease: str, who: str) -> bool:
    return await holder(client, namespace, lease) == who


async def test_sigterm_finishes_in_flight_and_releases(
    cluster: Any, rt_client: Client, namespace: str, tmp_path: Path
) -> None:
    lease = "sigterm"
    p = Proc(cluster, tmp_path, "mgr-s", namespace, lease, "--reconcile-seconds", "3", "--grace", "10")
    try:
        await wait_until(lambda: _is(rt_client, namespace, lease, "mgr-s"), 60, "leader")
        await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": "slow", "namespace": namespace}})
        key = f"{namespace}/slow"
        await wait_until(lambda: key in p.started_keys(), 30, "reconcile in flight")
        p.popen.send_signal(signal.SIGTERM)
        start = time.monotonic()
        rc = await asyncio.to_thread(p.popen.wait, 15)
        assert rc == 0
        assert time.monotonic() - start < 12
        ends = [r for r in p.records() if r["event"] == "end" and r["key"] == key]
        assert ends, "the in-flight reconcile must finish before exit"
        assert await holder(rt_client, namespace, lease) == ""
    finally:
        p.close()


async def test_losing_the_lease_stops_reconciling_at_once(
    cluster: Any, rt_client: Client, namespace: str
) -> None:
    lease = "stolen"
    mgr = Manager(
        ManagerOptions(
            kubeconfig=cluster.kubeconfig,
            metrics_bind_address="0",
            health_probe_bind_address="0",
            handle_signals=False,
            leader_elect=True,
            leader_election_id=lease,
            leader_election_namespace=namespace,
        )
    )
    mgr.cache.options.namespace = namespace
    started: list[float] = []
    finished: list[str] = []

    async def reconcile(req: Request) -> None:
        started.append(time.monotonic())
        await asyncio.sleep(60)
        finished.append(str(req))

    mgr.controller("victim").for_(kinds.CONFIGMAP).complete(reconcile)
    await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": "x", "namespace": namespace}})
    task = asyncio.create_task(mgr.run())
    stop_stealing = asyncio.Event()

    async def steal() -> None:
        while not stop_stealing.is_set():

            def take(obj: dict[str, Any]) -> None:
                obj["spec"].update(holderIdentity="thief", renewTime=micro_time(), leaseDurationSeconds=15)

            with contextlib.suppress(Exception):
                await rt_client.modify(kinds.LEASE, namespace, lease, take)
            await asyncio.sleep(0.5)

    thief: asyncio.Task[None] | None = None
    try:
        await wait_until(lambda: bool(started), 30, "reconcile started")
        thief = asyncio.create_task(steal())
        stolen_at = time.monotonic()
        with pytest.raises(LeaderElectionLost):
            await asyncio.wait_for(task, 30)
        lost_after = time.monotonic() - stolen_at
        # Renew deadline 10 s + one retry period.
        assert lost_after < 14, lost_after
        assert finished == [], "in-flight reconciles are cancelled, not finished"
        assert mgr.controllers["victim"].active_workers == 0
        count = len(started)
        await asyncio.sleep(1)
        assert len(started) == count
        assert mgr.metrics.registry.get_sample_value("leader_election_master_status", {"name": lease}) == 0
        assert await holder(rt_client, namespace, lease) == "thief", "a lost lease must not be released"
    finally:
        stop_stealing.set()
        if thief is not None:
            await thief
        if not task.done():
            mgr.stop()
            with contextlib.suppress(Exception):
                await task
