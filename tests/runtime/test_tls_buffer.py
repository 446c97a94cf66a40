"""The binaries' smaller TLS read buffer, against the real apiserver: big objects and lists arrive whole."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
from collections.abc import Iterator

import pytest

from kaito.runtime import Client, kinds
from kaito.runtime.memory import limit_tls_read_buffer

pytestmark = pytest.mark.cluster


@pytest.fixture
def small_tls_buffer() -> Iterator[int]:
    before = asyncio.sslproto.SSLProtocol.max_size
    limit_tls_read_buffer()
    try:
        yield asyncio.sslproto.SSLProtocol.max_size
    finally:
        asyncio.sslproto.SSLProtocol.max_size = before


def test_buffer_must_hold_a_tls_record() -> None:
    with pytest.raises(ValueError, match="TLS record"):
        limit_tls_read_buffer(4096)


async def test_megabyte_objects_and_lists_through_the_small_buffer(
    cluster: object, small_tls_buffer: int, namespace: str
) -> None:
    assert small_tls_buffer == 32 * 1024
    # A fresh client: its connections are made after the limit, so they get the small buffer.
    client = await Client.from_kubeconfig(
        cluster.kubeconfig,  # type: ignore[attr-defined]
        qps=0,
        burst=0,
        field_manager="memory-tests",
    )
    try:
        payload = {f"k{i}": ("x" * 1023) + str(i % 10) for i in range(900)}  # ~900 KiB per object
        for i in range(3):
            await client.create(
                kinds.CONFIGMAP, {"metadata": {"name": f"big-{i}", "namespace": namespace}, "data": payload}
            )
        got = await client.get(kinds.CONFIGMAP, namespace, "big-0")
        assert got["data"] == payload
        listed = await client.list(kinds.CONFIGMAP, namespace)
        big = [o for o in listed["items"] if o["metadata"]["name"].startswith("big-")]
        assert len(big) == 3 and all(o["data"] == payload for o in big)

        changed = {**payload, "k0": "y" * 1024}

        async def modified() -> dict[str, str]:
            async for event in client.watch(
                kinds.CONFIGMAP, namespace, resource_version=listed["metadata"]["resourceVersion"]
            ):
                if event.type == "MODIFIED" and event.object["metadata"]["name"] == "big-1":
                    return dict(event.object["data"])
            raise AssertionError("watch ended")

        watcher = asyncio.create_task(modified())
        await client.patch(kinds.CONFIGMAP, namespace, "big-1", {"data": {"k0": "y" * 1024}})
        assert await asyncio.wait_for(watcher, 30) == changed
    finally:
        await client.close()
