"""Benchmark of kaito.runtime against a real cluster (not a test).

Creates N ConfigMaps (``BENCH_N``, default 10,000) in a fresh namespace, then measures:

1. time for an informer's initial cache sync and resident memory per cached object;
2. reconciles per second of a no-op reconciler driven by a Manager over those objects, and the API
   writes it made (must be 0).

Uses ``$KUBECONFIG`` when set, otherwise starts the local control plane
(``e2e.cluster.localcluster.LocalCluster``) and stops it afterwards. Run: ``python bench/runtime.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from kaito.runtime import (  # noqa: E402
    Client,
    Informer,
    Manager,
    ManagerOptions,
    Request,
    configure_logging,
    kinds,
)
from kaito.runtime.cache import CacheOptions  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


async def create_objects(client: Client, namespace: str, n: int) -> float:
    sem = asyncio.Semaphore(64)
    payload = {"key": "x" * 64, "other": "y" * 32}

    async def one(i: int) -> None:
        async with sem:
            body = {"metadata": {"name": f"cm-{i:06d}", "namespace": namespace, "labels": {"bench": "yes"}}}
            await client.create(kinds.CONFIGMAP, {**body, "data": payload})

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start


async def bench(kubeconfig: Path, n: int) -> dict[str, Any]:
    results: dict[str, Any] = {"objects": n}
    setup = await Client.from_kubeconfig(kubeconfig, qps=0, burst=0, field_manager="bench")
    namespace = f"bench-runtime-{uuid.uuid4().hex[:6]}"
    try:
        await setup.create(kinds.NAMESPACE, {"metadata": {"name": namespace}})
        results["create_seconds"] = await create_objects(setup, namespace, n)

        # 1. Initial sync and memory of a bare informer.
        client = await Client.from_kubeconfig(kubeconfig)
        informer = Informer(client, kinds.CONFIGMAP, namespace=namespace, label_selector="bench=yes")
        gc.collect()
        before = rss_bytes()
        start = time.perf_counter()
        informer.start()
        await informer.wait_for_sync()
        results["sync_seconds"] = time.perf_counter() - start
        gc.collect()
        after = rss_bytes()
        results["cached"] = len(informer.store)
        results["rss_per_object_bytes"] = (after - before) / max(1, len(informer.store))
        results["rss_before_sync"] = before
        results["rss_after_sync"] = after
        await informer.stop()
        await client.close()
        del informer
        gc.collect()

        # 2. Manager with a no-op reconciler over all objects.
        mgr = Manager(
            ManagerOptions(
                kubeconfig=kubeconfig,
                metrics_bind_address="0",
                health_probe_bind_address="0",
                handle_signals=False,
                cache=CacheOptions(namespace=namespace, label_selector="bench=yes"),
            )
        )
        done = asyncio.Event()
        count = 0
        first: float | None = None

        async def noop(req: Request) -> None:
            nonlocal count, first
            if first is None:
                first = time.perf_counter()
            count += 1
            if count >= n:
                done.set()

        mgr.controller("bench").for_(kinds.CONFIGMAP).max_concurrent_reconciles(4).complete(noop)
        start = time.perf_counter()
        task = asyncio.create_task(mgr.run())
        await asyncio.wait_for(done.wait(), 600)
        end = time.perf_counter()
        results["manager_start_to_all_reconciled_seconds"] = end - start
        results["reconciles_per_second"] = n / (end - (first or start))
        results["manager_writes"] = mgr.client.stats.writes
        results["manager_requests"] = dict(mgr.client.stats.by_method)
        results["rss_manager"] = rss_bytes()
        mgr.stop()
        await task
    finally:
        with contextlib.suppress(Exception):
            await setup.delete(kinds.NAMESPACE, None, namespace)
        await setup.close()
    return results


def report(r: dict[str, Any]) -> None:
    n = r["objects"]
    print(f"kaito.runtime benchmark, N={n} ConfigMaps")
    print(f"  created N objects in          {r['create_seconds']:.1f} s ({n / r['create_seconds']:.0f}/s)")
    print(f"  initial cache sync            {r['sync_seconds']:.2f} s ({r['cached']} objects cached)")
    print(f"  resident memory per object    {r['rss_per_object_bytes'] / 1024:.2f} KiB")
    print(f"  process RSS before/after sync {mib(r['rss_before_sync'])} / {mib(r['rss_after_sync'])}")
    print(f"  no-op reconciles per second   {r['reconciles_per_second']:.0f}")
    print(f"  manager start → all reconciled {r['manager_start_to_all_reconciled_seconds']:.2f} s")
    print(f"  API writes by the manager     {r['manager_writes']} (requests: {r['manager_requests']})")
    print(f"  process RSS with manager      {mib(r['rss_manager'])}")


def main() -> int:
    n = int(os.environ.get("BENCH_N", "10000"))
    configure_logging("console", os.environ.get("BENCH_LOG_LEVEL", "warning"))
    kubeconfig_env = os.environ.get("KUBECONFIG")
    if kubeconfig_env:
        report(asyncio.run(bench(Path(kubeconfig_env), n)))
        return 0
    from e2e.cluster.localcluster import LocalCluster

    cluster = LocalCluster.start()
    try:
        report(asyncio.run(bench(cluster.kubeconfig, n)))
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
