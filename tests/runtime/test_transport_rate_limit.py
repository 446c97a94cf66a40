"""A derived transport (the Event recorder's) shares the connection and request counts but not the token
bucket, so a burst of Events cannot delay the reconcilers' writes."""

from __future__ import annotations

from typing import Any

from kaito.runtime.client.transport import Transport


class _Connection:
    base_url = "https://127.0.0.1:6443"

    async def close(self) -> None:
        return None


async def test_derived_transport_has_its_own_bucket_and_shares_the_connection() -> None:
    made: list[_Connection] = []

    async def connect() -> Any:
        made.append(_Connection())
        return made[-1]

    parent = Transport(connect=connect, qps=1, burst=1)
    events = parent.with_rate_limit(50, 100)
    assert events.bucket is not parent.bucket
    assert events.stats is parent.stats
    assert await events.connect() is await parent.connect()
    assert len(made) == 1
    # Draining the events bucket leaves the parent's untouched.
    for _ in range(100):
        await events.bucket.wait()
    await parent.bucket.wait()
