"""A tiny in-memory apiserver for ConfigMaps with scriptable watch faults (stalls, 410s, bookmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web


class FakeApiServer:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.rv = 100
        self.compacted = 0
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.streams: list[asyncio.Queue[tuple[str, Any]]] = []
        self.stalled = False
        self.list_calls = 0
        self.watch_calls: list[dict[str, str]] = []
        self.auth_headers: list[str] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/configmaps", self._collection)
        app.router.add_get("/api/v1/configmaps", self._collection)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        for q in self.streams:
            q.put_nowait(("close", None))
        if self._runner is not None:
            await self._runner.cleanup()

    # -- mutations -------------------------------------------------------------------------------------

    def _emit(self, etype: str, obj: dict[str, Any]) -> None:
        self.history.append((self.rv, etype, obj))
        if not self.stalled:
            for q in self.streams:
                q.put_nowait(("event", (etype, obj)))

    def put(self, name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
        self.rv += 1
        etype = "MODIFIED" if name in self.objects else "ADDED"
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": "ns",
                "resourceVersion": str(self.rv),
                "uid": f"uid-{name}",
            },
            "data": data or {},
        }
        self.objects[name] = obj
        self._emit(etype, obj)
        return obj

    def delete(self, name: str) -> None:
        self.rv += 1
        obj = self.objects.pop(name)
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        self._emit("DELETED", obj)

    def bookmark(self) -> None:
        self.rv += 1
        for q in self.streams:
            q.put_nowait(("bookmark", self.rv))

    def expire_streams(self) -> None:
        """Compacts history and sends a 410 ERROR event on every open stream."""
        self.compacted = self.rv
        for q in self.streams:
            q.put_nowait(("gone", None))

    def close_streams(self) -> None:
        for q in self.streams:
            q.put_nowait(("close", None))

    # -- handlers --------------------------------------------------------------------------------------

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        self.auth_headers.append(request.headers.get("Authorization", ""))
        if request.query.get("watch") == "true":
            return await self._watch(request)
        self.list_calls += 1
        body = {
            "kind": "ConfigMapList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.rv)},
            "items": list(self.objects.values()),
        }
        return web.json_response(body)

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self.watch_calls.append(dict(request.query))
        since = int(request.query.get("resourceVersion") or 0)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)

        async def send(event: dict[str, Any]) -> None:
            await resp.write(json.dumps(event).encode() + b"\n")

        if since < self.compacted:
            status = {
                "kind": "Status",
                "code": 410,
                "reason": "Expired",
                "message": "too old resource version",
            }
            await send({"type": "ERROR", "object": status})
            return resp
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streams.append(queue)
        try:
            for rv, etype, obj in list(self.history):
                if rv > since:
                    await send({"type": etype, "object": obj})
            while True:
                kind, payload = await queue.get()
                if kind == "close":
                    break
                if kind == "gone":
                    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "expired"}
                    await send({"type": "ERROR", "object": status})
                    break
                if kind == "bookmark":
                    meta = {"resourceVersion": str(payload)}
                    await send({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": meta}})
                    continue
                etype, obj = payload
                await send({"type": etype, "object": obj})
        finally:
            self.streams.remove(queue)
            with contextlib.suppress(Exception):
                await resp.write_eof()
        return resp
