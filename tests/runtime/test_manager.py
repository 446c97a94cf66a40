"""Manager lifecycle against the fake apiserver: probes, runnables, failures, shutdown, validation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kaito.runtime import Manager, ManagerOptions, Request, RunnableFailed, kinds
from kaito.runtime.manager import LeaderElector

from .fakeapi import FakeApiServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def kubeconfig(fake: FakeApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": fake.base_url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def manager(kubeconfig: Path, **kw: Any) -> Manager:
    settings: dict[str, Any] = {
        "metrics_bind_address": "127.0.0.1:0",
        "health_probe_bind_address": "127.0.0.1:0",
        "handle_signals": False,
        **kw,
    }
    opts = ManagerOptions(kubeconfig=kubeconfig, **settings)
    return Manager(opts)


async def eventually(cond: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = cond()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_lifecycle_probes_runnables_and_graceful_stop(fake: FakeApiServer, kubeconfig: Path) -> None:
    fake.put("a")
    mgr = manager(kubeconfig)
    seen: list[str] = []
    events: list[str] = []

    async def reconcile(req: Request) -> None:
        seen.append(req.name)

    async def everywhere() -> None:
        events.append("everywhere-start")
        try:
            await asyncio.Event().wait()
        finally:
            events.append("everywhere-stop")

    async def leader_only() -> None:
        events.append("leader-start")
        await asyncio.Event().wait()

    mgr.controller("cm").for_(kinds.CONFIGMAP).complete(reconcile)
    with pytest.raises(ValueError):
        mgr.controller("cm").for_(kinds.CONFIGMAP).complete(reconcile)
    with pytest.raises(ValueError):
        mgr.controller("x").owns(kinds.SECRET).complete(reconcile)
    with pytest.raises(ValueError):
        mgr.controller("y").complete(reconcile)
    mgr.add(everywhere, needs_leader=False)
    mgr.add(leader_only)
    mgr.add_readyz_check("custom", lambda: True)

    task = asyncio.create_task(mgr.run())
    await eventually(lambda: seen == ["a"])
    assert events == ["everywhere-start", "leader-start"]
    assert mgr.elected.is_set() and mgr.ready
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{mgr.health_port}/readyz") as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{mgr.health_port}/readyz/custom") as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{mgr.health_port}/healthz/nope") as r:
            assert r.status == 404
        async with http.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as r:
            text = await r.text()
            assert 'controller_runtime_reconcile_total{controller="cm",result="success"} 1.0' in text
    fake.put("b")
    await eventually(lambda: "b" in seen)
    mgr.stop()
    await asyncio.wait_for(task, 10)
    assert events[-1] == "everywhere-stop"
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith(("controller:", "informer:")))


async def test_readyz_is_503_until_caches_sync(fake: FakeApiServer, kubeconfig: Path) -> None:
    mgr = manager(kubeconfig)

    async def reconcile(req: Request) -> None:
        return None

    gate = asyncio.Event()
    original = mgr.client.list

    async def slow_list(*a: Any, **kw: Any) -> Any:
        await gate.wait()
        return await original(*a, **kw)

    mgr.client.list = slow_list  # type: ignore[method-assign]
    mgr.controller("cm").for_(kinds.CONFIGMAP).complete(reconcile)
    task = asyncio.create_task(mgr.run())
    try:
        await eventually(lambda: mgr.health_port)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{mgr.health_port}/readyz"
            async with http.get(url) as r:
                assert r.status == 503
                assert "cache-sync failed" in await r.text()
            gate.set()

            async def ready() -> bool:
                async with http.get(url) as r:
                    return r.status == 200

            await eventually(ready)
    finally:
        mgr.stop()
        await asyncio.wait_for(task, 10)


async def test_failing_runnable_stops_the_manager(fake: FakeApiServer, kubeconfig: Path) -> None:
    mgr = manager(kubeconfig, metrics_bind_address="0", health_probe_bind_address="0")

    async def broken() -> None:
        raise RuntimeError("webhook crashed")

    mgr.add(broken, needs_leader=False)
    with pytest.raises(RunnableFailed):
        await asyncio.wait_for(mgr.run(), 10)


async def test_cache_sync_timeout(fake: FakeApiServer, kubeconfig: Path) -> None:
    mgr = manager(kubeconfig, metrics_bind_address="0", health_probe_bind_address="0", cache_sync_timeout=0.2)

    async def never(*a: Any, **kw: Any) -> Any:
        await asyncio.Event().wait()

    mgr.client.list = never  # type: ignore[method-assign]
    mgr.cache.informer(kinds.CONFIGMAP)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(mgr.run(), 10)


async def test_stop_before_sync_returns(fake: FakeApiServer, kubeconfig: Path) -> None:
    mgr = manager(kubeconfig, metrics_bind_address="0", health_probe_bind_address="0")

    async def never(*a: Any, **kw: Any) -> Any:
        await asyncio.Event().wait()

    mgr.client.list = never  # type: ignore[method-assign]
    mgr.cache.informer(kinds.CONFIGMAP)
    task = asyncio.create_task(mgr.run())
    await asyncio.sleep(0.1)
    mgr.stop()
    await asyncio.wait_for(task, 5)


def test_leader_elector_validates_timings() -> None:
    client: Any = object()
    with pytest.raises(ValueError):
        LeaderElector(client, "l", "ns", "me", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError):
        LeaderElector(client, "l", "ns", "me", renew_deadline=2, retry_period=2)
    LeaderElector(client, "l", "ns", "me")


async def test_controllers_share_one_watch_per_kind(fake: FakeApiServer, kubeconfig: Path) -> None:
    fake.put("a")
    mgr = manager(kubeconfig, metrics_bind_address="0", health_probe_bind_address="0")
    seen: dict[str, list[str]] = {"one": [], "two": []}

    def reconciler(name: str) -> Any:
        async def reconcile(req: Request) -> None:
            seen[name].append(req.name)

        return reconcile

    mgr.controller("one").for_(kinds.CONFIGMAP).complete(reconciler("one"))
    mgr.controller("two").watches(kinds.CONFIGMAP, lambda o: [Request("ns", "mapped")]).complete(
        reconciler("two")
    )
    task = asyncio.create_task(mgr.run())
    try:
        await eventually(lambda: seen["one"] == ["a"] and seen["two"] == ["mapped"])
        assert len(mgr.cache.informers) == 1
        assert fake.list_calls == 1 and len(fake.watch_calls) == 1
    finally:
        mgr.stop()
        await asyncio.wait_for(task, 10)
