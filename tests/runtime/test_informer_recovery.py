"""Informer recovery paths against a scriptable fake apiserver: silent streams, 410s, bookmarks, resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.runtime import Client, HandlerFuncs, Informer, kinds
from kaito.runtime.client import Transport
from kaito.runtime.client.connection import NativeConnection

from .fakeapi import FakeApiServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeApiServer) -> AsyncIterator[Client]:
    c = Client(Transport(NativeConnection(fake.base_url), qps=0, burst=0))
    yield c
    await c.close()


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def handler(self) -> HandlerFuncs:
        return HandlerFuncs(
            add=lambda o, initial: self.log.append(("add", o["metadata"]["name"])),
            update=lambda old, new: self.log.append(("update", new["metadata"]["name"])),
            delete=lambda o: self.log.append(("delete", o["metadata"]["name"])),
        )


async def eventually(cond: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def cached(inf: Informer) -> dict[str, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in inf.store.snapshot().items()}


def served(fake: FakeApiServer) -> dict[str, str]:
    return {f"ns/{n}": o["metadata"]["resourceVersion"] for n, o in fake.objects.items()}


async def test_silent_stream_hits_read_timeout_and_rewatches(fake: FakeApiServer, client: Client) -> None:
    fake.put("a")
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns", read_timeout=0.3)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(fake.streams) == 1)
        fake.stalled = True  # the open stream goes silent; changes are only in history
        fake.put("b")
        fake.put("a", {"x": "1"})
        await asyncio.sleep(0.1)
        fake.stalled = False
        await eventually(lambda: cached(inf) == served(fake))
        assert inf.relists == 1, "a read timeout re-watches from the last resourceVersion, no relist"
        assert len(fake.watch_calls) >= 2
        assert fake.watch_calls[-1]["resourceVersion"] == "101"
        assert fake.watch_calls[0]["allowWatchBookmarks"] == "true"
        assert 300 <= int(fake.watch_calls[0]["timeoutSeconds"]) < 600
    finally:
        await inf.stop()


async def test_error_410_relists_and_emits_deletes(fake: FakeApiServer, client: Client) -> None:
    for n in "abc":
        fake.put(n)
    ev = Events()
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns")
    inf.add_handler(ev.handler())
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(fake.streams) == 1)
        fake.stalled = True
        fake.delete("a")
        fake.put("b", {"v": "2"})
        fake.put("d")
        fake.expire_streams()
        fake.stalled = False
        await eventually(lambda: cached(inf) == served(fake))
        assert inf.relists == 2
        assert ("delete", "a") in ev.log and ("update", "b") in ev.log and ("add", "d") in ev.log
        assert ev.log.count(("update", "c")) == 0, "unchanged objects are not re-delivered on relist"
    finally:
        await inf.stop()


async def test_bookmark_advances_resource_version_and_normal_close_rewatches(
    fake: FakeApiServer, client: Client
) -> None:
    fake.put("a")
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns")
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(fake.streams) == 1)
        fake.bookmark()
        await eventually(lambda: inf.resource_version == str(fake.rv))
        await asyncio.sleep(1.1)  # a watch ending after >1 s with events is a normal close
        fake.close_streams()
        await eventually(lambda: len(fake.watch_calls) == 2)
        assert fake.watch_calls[1]["resourceVersion"] == str(fake.rv)
        assert inf.relists == 1
    finally:
        await inf.stop()


async def test_list_410_with_compacted_watch_start(fake: FakeApiServer, client: Client) -> None:
    fake.put("a")
    fake.compacted = 10_000  # every watch start is "too old"
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns")
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await asyncio.sleep(2.0)
        assert 2 <= inf.relists <= 4, "repeated 410s relist with backoff, not in a hot loop"
        fake.compacted = 0
        fake.put("b")
        await eventually(lambda: cached(inf) == served(fake))
    finally:
        await inf.stop()


async def test_resync_redelivers_updates(fake: FakeApiServer, client: Client) -> None:
    fake.put("a")
    ev = Events()
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns", resync_period=0.1)
    inf.add_handler(ev.handler())
    inf.start()
    try:
        await eventually(lambda: ev.log.count(("update", "a")) >= 2)
        assert fake.list_calls == 1, "resync never calls the apiserver"
    finally:
        await inf.stop()


async def test_late_handler_gets_replayed_adds_and_bad_handler_is_isolated(
    fake: FakeApiServer, client: Client
) -> None:
    fake.put("a")
    inf = Informer(client, kinds.CONFIGMAP, namespace="ns")

    def boom(o: dict[str, Any], initial: bool) -> None:
        raise RuntimeError("bad handler")

    inf.add_handler(HandlerFuncs(add=boom))
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        ev = Events()
        inf.add_handler(ev.handler())
        assert ev.log == [("add", "a")]
        fake.put("b")
        await eventually(lambda: ("add", "b") in ev.log)
    finally:
        await inf.stop()
