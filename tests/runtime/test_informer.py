"""An informer's cache must equal the server's state after bursts, apiserver restarts and 410s."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from kaito.runtime import Client, HandlerFuncs, Informer, kinds
from kaito.runtime.client import Transport
from kaito.runtime.client.connection import connect

from .faults import FlakyClient

pytestmark = pytest.mark.cluster


async def server_state(client: Client, namespace: str) -> dict[str, str]:
    listed = await client.list(kinds.CONFIGMAP, namespace)
    return {f"{namespace}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in listed["items"]}


def cache_state(informer: Informer) -> dict[str, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in informer.store.snapshot().items()}


async def assert_converges(informer: Informer, client: Client, namespace: str, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        want = await server_state(client, namespace)
        got = cache_state(informer)
        if got == want:
            return
        if asyncio.get_running_loop().time() > deadline:
            missing = set(want) - set(got)
            extra = set(got) - set(want)
            stale = {k for k in set(want) & set(got) if want[k] != got[k]}
            raise AssertionError(
                f"cache diverged: missing={len(missing)} extra={len(extra)} stale={len(stale)}"
            )
        await asyncio.sleep(0.2)


class Recorder:
    """Replays handler calls into a mirror dict, to check handlers saw exactly the cache's changes."""

    def __init__(self) -> None:
        self.mirror: dict[str, str] = {}
        self.deletes: list[str] = []

    def handler(self) -> HandlerFuncs:
        def key(o: dict[str, Any]) -> str:
            return f"{o['metadata']['namespace']}/{o['metadata']['name']}"

        def add(o: dict[str, Any], initial: bool) -> None:
            self.mirror[key(o)] = o["metadata"]["resourceVersion"]

        def update(old: dict[str, Any], new: dict[str, Any]) -> None:
            self.mirror[key(new)] = new["metadata"]["resourceVersion"]

        def delete(o: dict[str, Any]) -> None:
            self.mirror.pop(key(o), None)
            self.deletes.append(key(o))

        return HandlerFuncs(add, update, delete)


async def _burst(client: Client, namespace: str, n: int = 1000) -> None:
    sem = asyncio.Semaphore(32)
    names = [f"cm-{i}" for i in range(n // 2)]

    async def create(name: str) -> None:
        async with sem:
            await client.create(
                kinds.CONFIGMAP, {"metadata": {"name": name, "namespace": namespace}, "data": {"v": "0"}}
            )

    async def update(name: str) -> None:
        async with sem:
            await client.patch(kinds.CONFIGMAP, namespace, name, {"data": {"v": "1"}})

    async def delete(name: str) -> None:
        async with sem:
            await client.delete(kinds.CONFIGMAP, namespace, name)

    await asyncio.gather(*(create(nm) for nm in names))
    shuffled = list(names)
    random.Random(7).shuffle(shuffled)
    updated, deleted = shuffled[: n // 4], shuffled[n // 4 :]
    await asyncio.gather(*(update(nm) for nm in updated), *(delete(nm) for nm in deleted))


@pytest.fixture
async def informer_client(cluster: Any) -> Any:
    client = FlakyClient(Transport(await connect(cluster.kubeconfig), qps=0, burst=0))
    yield client
    await client.close()


async def test_burst_of_1000_operations(
    informer_client: FlakyClient, rt_client: Client, namespace: str
) -> None:
    informer = Informer(informer_client, kinds.CONFIGMAP, namespace=namespace)
    rec = Recorder()
    informer.add_handler(rec.handler())
    informer.start()
    try:
        assert await informer.wait_for_sync(10)
        await _burst(rt_client, namespace, 1000)
        await assert_converges(informer, rt_client, namespace)
        assert rec.mirror == cache_state(informer)
        assert informer.relists == 1, "a healthy watch must not relist"
    finally:
        await informer.stop()


async def test_apiserver_killed_and_restarted_mid_watch(
    cluster: Any, informer_client: FlakyClient, rt_client: Client, namespace: str
) -> None:
    informer = Informer(informer_client, kinds.CONFIGMAP, namespace=namespace)
    rec = Recorder()
    informer.add_handler(rec.handler())
    informer.start()
    try:
        assert await informer.wait_for_sync(10)
        await _burst(rt_client, namespace, 200)
        await assert_converges(informer, rt_client, namespace)
        watches_before = informer.watches
        await asyncio.to_thread(cluster.restart_apiserver)
        # Changes after the restart must arrive through the re-opened watch.
        for i in range(20):
            await rt_client.create(
                kinds.CONFIGMAP, {"metadata": {"name": f"after-{i}", "namespace": namespace}}
            )
        await rt_client.delete(kinds.CONFIGMAP, namespace, "after-0")
        await assert_converges(informer, rt_client, namespace, within=60)
        assert informer.watches > watches_before
        assert rec.mirror == cache_state(informer)
    finally:
        await informer.stop()


async def test_forced_410_relists_and_emits_missed_deletes(
    cluster: Any, informer_client: FlakyClient, rt_client: Client, namespace: str
) -> None:
    informer = Informer(informer_client, kinds.CONFIGMAP, namespace=namespace)
    rec = Recorder()
    informer.add_handler(rec.handler())
    informer.start()
    try:
        assert await informer.wait_for_sync(10)
        for i in range(30):
            await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": f"k-{i}", "namespace": namespace}})
        await assert_converges(informer, rt_client, namespace)
        relists_before = informer.relists

        informer_client.disconnect()
        # These changes happen while the informer sees nothing.
        for i in range(10):
            await rt_client.delete(kinds.CONFIGMAP, namespace, f"k-{i}")
        for i in range(10, 15):
            await rt_client.patch(kinds.CONFIGMAP, namespace, f"k-{i}", {"data": {"x": "y"}})
        await rt_client.create(kinds.CONFIGMAP, {"metadata": {"name": "new-one", "namespace": namespace}})
        await asyncio.to_thread(cluster.compact_etcd)
        # Resume from a resourceVersion long compacted away: the apiserver must answer 410.
        informer_client.reconnect(forced_rv="1")

        await assert_converges(informer, rt_client, namespace)
        assert informer.relists == relists_before + 1
        assert sorted(rec.deletes) == sorted(f"{namespace}/k-{i}" for i in range(10))
        assert rec.mirror == cache_state(informer)
    finally:
        await informer.stop()
