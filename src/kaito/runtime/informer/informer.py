"""The informer: list, then watch from the list's resourceVersion, keeping a local store in sync.

Recovery rules (client-go reflector):

* a watch the server closes normally (its ``timeoutSeconds`` ran out) is re-opened at once from the last
  resourceVersion, with no relist;
* a watch ``ERROR`` 410 (``Expired``/``Gone``), or a list/watch answering 410, triggers a relist (at once,
  or after the backoff if the previous relist was followed by no event at all); the relist is diffed
  against the store, so handlers see adds, updates and deletes (including objects deleted while the watch
  was down);
* connection failures and client read timeouts (a silent stream) re-open the watch from the last
  resourceVersion after a jittered backoff (0.8 s doubling to 30 s); other API errors relist after it;
* a watch that ends within a second with no event is treated as broken (backoff, then relist).

Bookmarks (``allowWatchBookmarks``) only advance the resourceVersion, which keeps re-watches cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from kaito.runtime.client.client import Client
from kaito.runtime.client.errors import ApiError, GoneError, TooManyRequestsError
from kaito.runtime.client.kind import Kind, object_key
from kaito.runtime.flowcontrol.backoff import Backoff
from kaito.runtime.informer.handler import EventHandler
from kaito.runtime.informer.store import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    IndexFunc,
    Store,
    index_by_namespace,
    index_by_owner,
)
from kaito.runtime.objects import Obj

Transform = Callable[[Obj], Obj]

_log = structlog.get_logger("kaito.runtime.informer")


def strip_managed_fields(obj: Obj) -> Obj:
    """The default transform: drops ``metadata.managedFields``, often the largest part of an object."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        del meta["managedFields"]
    return obj


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class Informer:
    """Keeps :attr:`store` equal to the server's state of one kind (optionally filtered) and tells
    registered handlers about every change.

    Args:
        client: the client used for list and watch requests.
        kind: what to watch.
        namespace: restrict to one namespace (None: all).
        label_selector, field_selector: server-side filters; objects outside them are invisible.
        metadata_only: watch ``PartialObjectMetadata`` only (no spec/status), to save memory.
        resync_period: if set, every object is re-delivered as ``on_update(obj, obj)`` this often
            (jittered by ±10 %); this never calls the apiserver.
        transform: applied to each object before it is stored (default: strip ``managedFields``).
        min_watch_timeout: server-side watch timeouts are drawn from ``[t, 2t)`` seconds (default 300).
        read_timeout: client-side limit on silence within a watch stream (default 90 s; bookmarks arrive
            about once a minute), after which the watch is re-opened.
        page_size: list page size.
    """

    def __init__(
        self,
        client: Client,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        resync_period: float | None = None,
        transform: Transform | None = strip_managed_fields,
        min_watch_timeout: int = 300,
        read_timeout: float = 90.0,
        page_size: int = 500,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.metadata_only = metadata_only
        self.resync_period = resync_period
        self.transform = transform
        self.min_watch_timeout = min_watch_timeout
        self.read_timeout = read_timeout
        self.page_size = page_size
        self.store = Store({NAMESPACE_INDEX: index_by_namespace, OWNER_INDEX: index_by_owner})
        self.resource_version: str = ""
        self.relists = 0
        self.watches = 0
        self._events_since_list = 0
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._log = _log.bind(kind=str(kind), namespace=namespace or "")

    # -- public surface ------------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and delivered."""
        return self._synced.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def add_handler(self, handler: EventHandler) -> None:
        """Registers ``handler``. Objects already in the store are replayed to it as initial adds."""
        self._handlers.append(handler)
        if self.has_synced:
            for obj in self.store.list():
                self._safe(handler.on_add, obj, True)

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Adds a secondary index to :attr:`store` (``namespace`` and ``owner`` exist by default)."""
        self.store.add_indexer(name, fn)

    async def wait_for_sync(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Waits for the first list; returns False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Starts the list/watch loop as a task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer:{self.kind}")

    async def stop(self) -> None:
        """Cancels the loop and waits for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """The list/watch loop; runs until cancelled."""
        resync = asyncio.create_task(self._resync_loop()) if self.resync_period else None
        backoff = Backoff()
        need_list = True
        try:
            while True:
                try:
                    if need_list:
                        await self._list_and_sync()
                        need_list = False
                    loop = asyncio.get_running_loop()
                    started = loop.time()
                    events = await self._watch_once()
                    if events == 0 and loop.time() - started < 1.0:
                        self._log.warning("very short watch, relisting after backoff")
                        need_list = True
                        await asyncio.sleep(backoff.next())
                    else:
                        backoff.reset()
                except GoneError:
                    self._log.info(
                        "resourceVersion expired (410), relisting", resource_version=self.resource_version
                    )
                    need_list = True
                    if self._events_since_list == 0:
                        # Expired again right after a relist: back off instead of hammering the apiserver.
                        await asyncio.sleep(backoff.next())
                except TooManyRequestsError:
                    await asyncio.sleep(backoff.next())
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    delay = backoff.next()
                    self._log.info("watch interrupted, retrying", error=repr(exc), delay=round(delay, 2))
                    await asyncio.sleep(delay)
                except ApiError as exc:
                    delay = backoff.next()
                    self._log.warning("list/watch failed, relisting", error=str(exc), delay=round(delay, 2))
                    need_list = True
                    await asyncio.sleep(delay)
                except Exception:
                    delay = backoff.next()
                    self._log.exception("unexpected informer error, relisting", delay=round(delay, 2))
                    need_list = True
                    await asyncio.sleep(delay)
        finally:
            if resync is not None:
                resync.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resync

    # -- internals -----------------------------------------------------------------------------------

    def _safe(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self._log.exception("event handler failed")

    def _prepare(self, obj: Obj) -> Obj:
        return self.transform(obj) if self.transform is not None else obj

    async def _list_and_sync(self) -> None:
        result = await self.client.list(
            self.kind,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            page_size=self.page_size,
            metadata_only=self.metadata_only,
        )
        self.relists += 1
        self._events_since_list = 0
        fresh: dict[str, Obj] = {}
        for item in result["items"]:
            # A list's items carry no apiVersion or kind, a watch's objects do: the same object must look
            # the same to handlers and recorders (an Event keyed on its kind was written twice).
            item.setdefault("apiVersion", self.kind.api_version)
            item.setdefault("kind", self.kind.kind)
            obj = self._prepare(item)
            fresh[object_key(obj)] = obj
        initial = not self.has_synced
        old_items: dict[str, Obj | None] = dict(self.store.snapshot())
        self.store.replace(fresh)
        self.resource_version = str((result.get("metadata") or {}).get("resourceVersion", ""))
        for key, obj in fresh.items():
            old = old_items.pop(key, None)
            if old is None:
                for h in self._handlers:
                    self._safe(h.on_add, obj, initial)
            elif _rv(old) != _rv(obj):
                for h in self._handlers:
                    self._safe(h.on_update, old, obj)
        # Whatever is left was deleted while we were not watching.
        for gone in old_items.values():
            if gone is not None:
                for h in self._handlers:
                    self._safe(h.on_delete, gone)
        self._log.debug("listed", count=len(fresh), resource_version=self.resource_version)
        self._synced.set()

    async def _watch_once(self) -> int:
        timeout = random.randint(self.min_watch_timeout, 2 * self.min_watch_timeout - 1)
        self.watches += 1
        count = 0
        stream = self.client.watch(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
            read_timeout=self.read_timeout,
            allow_bookmarks=True,
            metadata_only=self.metadata_only,
        )
        async with contextlib.aclosing(stream):
            async for event in stream:
                count += 1
                self._events_since_list += 1
                rv = _rv(event.object)
                if event.type == "BOOKMARK":
                    if rv:
                        self.resource_version = rv
                    continue
                obj = self._prepare(event.object)
                key = object_key(obj)
                if event.type in ("ADDED", "MODIFIED"):
                    old = self.store.put(key, obj)
                    for h in self._handlers:
                        if old is None:
                            self._safe(h.on_add, obj, False)
                        else:
                            self._safe(h.on_update, old, obj)
                elif event.type == "DELETED":
                    self.store.delete(key)
                    for h in self._handlers:
                        self._safe(h.on_delete, obj)
                if rv:
                    self.resource_version = rv
        return count

    async def _resync_loop(self) -> None:
        assert self.resync_period is not None
        await self._synced.wait()
        while True:
            await asyncio.sleep(self.resync_period * random.uniform(0.9, 1.1))
            for obj in self.store.list():
                for h in self._handlers:
                    self._safe(h.on_update, obj, obj)
