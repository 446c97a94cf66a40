"""Writes core/v1 Events about objects, counting repeats on one Event instead of creating new ones.

Like client-go's recorder, writing is asynchronous and best effort: :meth:`EventRecorder.event` queues
the event and returns at once (reconcilers never wait on it); a background task writes it. A repeat of the
same (object, type, reason, message, component) within ``aggregate_window`` seconds PATCHes ``count``
and ``lastTimestamp`` of the earlier Event. When the buffer is full, events are dropped (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import structlog

from kaito.runtime.client import kinds
from kaito.runtime.client.client import Client
from kaito.runtime.client.errors import NotFoundError
from kaito.runtime.objects import Obj
from kaito.runtime.timefmt import rfc3339

_log = structlog.get_logger("kaito.runtime.events")

NORMAL = "Normal"
WARNING = "Warning"


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int
    last: float


class EventRecorder:
    """Records Events for one component (``source.component``/``reportingComponent``).

    Args:
        client: the writing client.
        component: e.g. ``"workspace-controller"``.
        host: ``source.host`` (default: this hostname).
        aggregate_window: repeats within this many seconds are aggregated (default 10 minutes, as the
            client-go correlator's default).
        max_pending: events buffered before new ones are dropped.
    """

    def __init__(
        self,
        client: Client,
        component: str,
        *,
        host: str | None = None,
        aggregate_window: float = 600.0,
        max_pending: int = 1000,
        max_tracked: int = 4096,
    ) -> None:
        self.client = client
        self.component = component
        self.host = host or socket.gethostname()
        self.aggregate_window = aggregate_window
        self.max_tracked = max_tracked
        self.dropped = 0
        self.written = 0
        self._pending: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(max_pending)
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Queues an Event about ``obj`` (``event_type``: ``"Normal"`` or ``"Warning"``). Never blocks."""
        if event_type not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, not {event_type!r}")
        try:
            self._pending.put_nowait((obj, event_type, reason, message))
        except asyncio.QueueFull:
            self.dropped += 1
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=f"events:{self.component}")

    async def flush(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Waits until queued events are written (for tests and shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pending.join(), timeout)

    async def close(self) -> None:
        """Stops the writer task; unwritten events are dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain(self) -> None:
        while True:
            obj, event_type, reason, message = await self._pending.get()
            try:
                await self.write(obj, event_type, reason, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("could not write event", reason=reason, error=repr(exc))
            finally:
                self._pending.task_done()

    async def write(self, obj: Obj, event_type: str, reason: str, message: str) -> Obj:
        """Writes (or aggregates) one Event now and returns it."""
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace") or "",
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        key = (
            str(involved["apiVersion"]), str(involved["kind"]), str(involved["namespace"]),
            str(involved["name"]), str(involved["uid"]), event_type, reason, message,
        )  # fmt: skip
        now = rfc3339()
        seen = self._seen.get(key)
        if seen is not None and time.monotonic() - seen.last < self.aggregate_window:
            patch = {"count": seen.count + 1, "lastTimestamp": now}
            try:
                result = await self.client.patch(kinds.EVENT, seen.namespace, seen.name, patch)
            except NotFoundError:
                self._seen.pop(key, None)
            else:
                seen.count += 1
                seen.last = time.monotonic()
                self._seen.move_to_end(key)
                self.written += 1
                return result
        name = f"{involved['name'] or 'object'}.{uuid.uuid4().hex[:16]}"
        body: Obj = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason,
            "message": message[:1024],
            "type": event_type,
            "source": {"component": self.component, "host": self.host},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        result = await self.client.create(kinds.EVENT, body)
        self._seen[key] = _Seen(namespace, name, 1, time.monotonic())
        while len(self._seen) > self.max_tracked:
            self._seen.popitem(last=False)
        self.written += 1
        return result
