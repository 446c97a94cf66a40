"""The writing client: CRUD, patch, server-side apply, status and watch on plain JSON dicts."""

from __future__ import annotations

import asyncio
import builtins
import enum
import json
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kaito.runtime.client.connection import connect
from kaito.runtime.client.discovery import Discovery
from kaito.runtime.client.errors import ApiError, ConflictError, NotFoundError, error_from_status
from kaito.runtime.client.kind import Kind
from kaito.runtime.client.transport import RequestStats, Transport
from kaito.runtime.metrics.registry import RuntimeMetrics
from kaito.runtime.objects import Obj

if TYPE_CHECKING:
    from pydantic import BaseModel

    from kaito.runtime.client.typed import TypedClient

    M = TypeVar("M", bound=BaseModel)

Mutator = Callable[[Obj], "Obj | Awaitable[Obj | None] | None"]

# Accept headers that make the apiserver return PartialObjectMetadata instead of full objects.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


async def conflict_backoff(attempt: int) -> None:
    """The pause before the next read-modify-write after a conflict: client-go's ``DefaultRetry``
    (10 ms steps with 10% jitter)."""
    await asyncio.sleep(0.01 * (1 + 0.1 * random.random()) * (attempt + 1))


class PatchType(enum.StrEnum):
    """Patch content types. Strategic merge works for built-in kinds only."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK; ``object`` the raw dict."""

    type: str
    object: Obj


class Client:
    """Async Kubernetes client working on plain dicts.

    Every method takes the :class:`Kind` first; methods addressing one object by name then take
    ``namespace, name`` (``namespace`` is ignored, pass None, for cluster-scoped kinds). Methods taking
    an object read its namespace and name from ``obj["metadata"]``. Errors are
    :class:`~kaito.runtime.client.errors.ApiError` subclasses (``NotFoundError``, ``ConflictError``,
    ``AlreadyExistsError``, ``GoneError``, ``InvalidError``, ...).

    Args:
        transport: the rate-limited, counted REST transport.
        field_manager: default ``fieldManager`` for writes and server-side apply.
    """

    def __init__(self, transport: Transport, field_manager: str = "kaito-runtime") -> None:
        self.transport = transport
        self.field_manager = field_manager
        self.discovery = Discovery(transport)

    def with_rate_limit(self, qps: float, burst: int) -> Client:
        """This client over the same connection, behind a token bucket of its own."""
        return Client(self.transport.with_rate_limit(qps, burst), field_manager=self.field_manager)

    @classmethod
    async def from_kubeconfig(
        cls,
        kubeconfig: str | Path | None = None,
        *,
        context: str | None = None,
        qps: float = 20.0,
        burst: int = 30,
        field_manager: str = "kaito-runtime",
        metrics: RuntimeMetrics | None = None,
    ) -> Client:
        """Builds a client with its own connection (closed by :meth:`close`) from a kubeconfig, or
        in-cluster (see :func:`~kaito.runtime.client.connection.connect`)."""
        connection = await connect(kubeconfig, context)
        transport = Transport(connection, qps=qps, burst=burst, metrics=metrics)
        return cls(transport, field_manager=field_manager)

    async def close(self) -> None:
        await self.transport.close()

    @property
    def stats(self) -> RequestStats:
        """Request counts per verb and code (``stats.by_method``, ``stats.writes``)."""
        return self.transport.stats

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _ns(kind: Kind, namespace: str | None, obj: Obj | None = None) -> str | None:
        if not kind.namespaced:
            return None
        ns = namespace or ((obj or {}).get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        return str(ns)

    @staticmethod
    def _name(obj: Obj) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("object has no metadata.name")
        return str(name)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Obj:
        result = await self.transport.request(method, path, **kwargs)
        return result if isinstance(result, dict) else {}

    # -- reads ---------------------------------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str | None, name: str, *, metadata_only: bool = False) -> Obj:
        """Reads one object live from the apiserver (reconcilers should read the cache instead)."""
        accept = METADATA_ACCEPT if metadata_only else "application/json"
        return await self._call("GET", kind.path(self._ns(kind, namespace), name), accept=accept)

    async def get_or_none(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """Like :meth:`get` but returns None on 404."""
        try:
            return await self.get(kind, namespace, name)
        except NotFoundError:
            return None

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        page_size: int | None = 500,
        metadata_only: bool = False,
    ) -> Obj:
        """Lists objects, following ``continue`` tokens; returns ``{"items": [...], "metadata": {...}}`` with
        the list's ``resourceVersion``. ``namespace=None`` lists all namespaces of a namespaced kind."""
        path = kind.path(namespace if kind.namespaced else None)
        accept = METADATA_LIST_ACCEPT if metadata_only else "application/json"
        items: list[Obj] = []
        cont: str | None = None
        meta: Obj = {}
        while True:
            query = {
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "limit": page_size,
                "continue": cont,
                "resourceVersion": resource_version if cont is None else None,
            }
            page = await self._call("GET", path, query=query, accept=accept)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                break
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List", "metadata": meta, "items": items}

    # -- writes --------------------------------------------------------------------------------------

    async def create(
        self,
        kind: Kind,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        strict: bool = False,
    ) -> Obj:
        """POSTs ``obj`` (``apiVersion``/``kind`` are filled in from ``kind`` if missing). ``strict``: the
        apiserver refuses unknown or duplicate fields (``fieldValidation=Strict``), not drops them."""
        query = {
            "fieldManager": field_manager or self.field_manager,
            "dryRun": "All" if dry_run else None,
            "fieldValidation": "Strict" if strict else None,
        }
        return await self._call(
            "POST", kind.path(self._ns(kind, namespace, obj)), query=query, body=kind.stamp(obj)
        )

    async def update(self, kind: Kind, obj: Obj, *, subresource: str | None = None) -> Obj:
        """PUTs ``obj``; its ``metadata.resourceVersion`` makes this an optimistic-concurrency write (409)."""
        path = kind.path(self._ns(kind, None, obj), self._name(obj), subresource)
        return await self._call("PUT", path, query={"fieldManager": self.field_manager}, body=kind.stamp(obj))

    async def update_status(self, kind: Kind, obj: Obj) -> Obj:
        """PUTs the ``status`` subresource."""
        return await self.update(kind, obj, subresource="status")

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Obj | builtins.list[Obj],
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        """PATCHes an object. ``patch_type`` defaults to JSON merge patch; strategic merge is refused for
        custom kinds because the apiserver answers 415."""
        if patch_type is PatchType.STRATEGIC and not kind.builtin:
            raise ValueError(f"strategic merge patch is not supported for {kind}")
        path = kind.path(self._ns(kind, namespace), name, subresource)
        query = {"fieldManager": field_manager or self.field_manager}
        return await self._call("PATCH", path, query=query, body=patch, content_type=str(patch_type))

    async def patch_status(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Obj | builtins.list[Obj],
        *,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """PATCHes the ``status`` subresource."""
        return await self.patch(kind, namespace, name, patch, patch_type=patch_type, subresource="status")

    async def apply(
        self,
        kind: Kind,
        obj: Obj,
        *,
        field_manager: str | None = None,
        force: bool = True,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Server-side apply of the partial object ``obj`` (creates it if missing).

        ``force=True`` (the default, as the SSA docs recommend for controllers) takes ownership of
        conflicting fields; with ``force=False`` a conflict raises :class:`ConflictError`."""
        body = kind.stamp(obj)
        meta = body.get("metadata") or {}
        # The apiserver rejects apply bodies carrying these.
        if "managedFields" in meta or "resourceVersion" in meta:
            meta = {k: v for k, v in meta.items() if k not in ("managedFields", "resourceVersion")}
            body = {**body, "metadata": meta}
        path = kind.path(self._ns(kind, None, body), self._name(body), subresource)
        query = {
            "fieldManager": field_manager or self.field_manager,
            "force": True if force else None,
            "dryRun": "All" if dry_run else None,
        }
        return await self._call("PATCH", path, query=query, body=body, content_type=str(PatchType.APPLY))

    async def apply_status(
        self, kind: Kind, obj: Obj, *, field_manager: str | None = None, force: bool = True
    ) -> Obj:
        """Server-side apply of the ``status`` subresource."""
        return await self.apply(kind, obj, field_manager=field_manager, force=force, subresource="status")

    async def delete(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Obj | None = None,
    ) -> bool:
        """Deletes an object. Returns False if it was already gone (404 counts as success).

        ``propagation_policy``: ``"Foreground"``, ``"Background"`` or ``"Orphan"``;
        ``preconditions``: e.g. ``{"uid": ..., "resourceVersion": ...}``."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        try:
            await self.transport.request("DELETE", kind.path(self._ns(kind, namespace), name), body=body)
        except NotFoundError:
            return False
        return True

    async def modify(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        mutate: Mutator,
        *,
        status: bool = False,
        attempts: int = 5,
    ) -> Obj | None:
        """Read-modify-write with bounded conflict retries (client-go ``RetryOnConflict``).

        Each attempt GETs the object live and calls ``mutate(obj)`` (sync or async), which edits ``obj``
        in place and returns None, or returns a new dict. If the result equals what was read nothing is
        written; otherwise it is PUT (``status=True``: the status subresource) with the read
        resourceVersion, and a 409 starts the next attempt. Returns the written (or unchanged) object,
        None if the object does not exist; raises ``ConflictError`` when every attempt conflicted."""
        last: ConflictError | None = None
        for attempt in range(attempts):
            current = await self.get_or_none(kind, namespace, name)
            if current is None:
                return None
            before = json.dumps(current, sort_keys=True)
            result = mutate(current)
            if isinstance(result, Awaitable):
                result = await result
            updated = result if isinstance(result, dict) else current
            if json.dumps(updated, sort_keys=True) == before:
                return updated
            try:
                return await self.update(kind, updated, subresource="status" if status else None)
            except ConflictError as exc:
                last = exc
                await conflict_backoff(attempt)
        assert last is not None
        raise last

    # -- watch ---------------------------------------------------------------------------------------

    async def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        read_timeout: float | None = 90.0,
        allow_bookmarks: bool = True,
        metadata_only: bool = False,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Streams watch events until the server closes the stream.

        ``timeout_seconds`` is the server-side watch timeout; ``read_timeout`` bounds the silence on the
        socket (raises ``TimeoutError``), so a stalled stream cannot hang. An ``ERROR`` event raises the
        matching ApiError (``GoneError`` for 410: the caller must relist)."""
        query = {
            "watch": True,
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": True if allow_bookmarks else None,
        }
        accept = METADATA_ACCEPT if metadata_only else "application/json"
        path = kind.path(namespace if kind.namespaced else None)
        async with self.transport.stream(path, query=query, accept=accept, read_timeout=read_timeout) as resp:
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                event = json.loads(line)
                etype = event.get("type")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    raise error_from_status(int(obj.get("code") or 500), obj)
                if etype is None and "code" in event:
                    raise error_from_status(int(event["code"]), event)
                yield WatchEvent(str(etype), obj)

    # -- discovery and typed access -----------------------------------------------------------------

    async def kind_for(self, api_version: str, kind: str) -> Kind:
        """Resolves any apiVersion/kind through (cached) discovery."""
        return await self.discovery.resolve(api_version, kind)

    def typed(self, kind: Kind, model: type[M]) -> TypedClient[M]:
        """A pydantic view: ``client.typed(WORKSPACE, Workspace).get(ns, name) -> Workspace``."""
        from kaito.runtime.client.typed import TypedClient

        return TypedClient(self, kind, model)


__all__ = ["ApiError", "Client", "PatchType", "WatchEvent"]
