"""Fault injection for informer tests: a client whose watch streams can be cut and held down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from kaito.runtime import Client, WatchEvent


class FlakyClient(Client):
    """While :meth:`disconnect` is in effect, open watch streams fail on their next event and new watches
    wait; :meth:`reconnect` lets them through, optionally from a forced (too old) resourceVersion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected = asyncio.Event()
        self.connected.set()
        self.forced_rv: str | None = None
        self.watch_calls: list[str | None] = []

    def disconnect(self) -> None:
        self.connected.clear()

    def reconnect(self, forced_rv: str | None = None) -> None:
        self.forced_rv = forced_rv
        self.connected.set()

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncGenerator[WatchEvent, None]:
        await self.connected.wait()
        if self.forced_rv is not None:
            kwargs["resource_version"], self.forced_rv = self.forced_rv, None
        self.watch_calls.append(kwargs.get("resource_version"))
        async for event in super().watch(*args, **kwargs):
            if not self.connected.is_set():
                raise aiohttp.ClientConnectionError("injected disconnect")
            yield event
