"""The shared informer cache: one informer per kind per process, and cached reads for reconcilers."""

from __future__ import annotations

import asyncio

import structlog

from kaito.runtime.cache.options import ByKind, CacheOptions
from kaito.runtime.client.client import Client
from kaito.runtime.client.kind import Kind
from kaito.runtime.informer.informer import Informer
from kaito.runtime.informer.selector import LabelSelector
from kaito.runtime.informer.store import NAMESPACE_INDEX, IndexFunc, Store, index_by_label
from kaito.runtime.objects import Obj

_log = structlog.get_logger("kaito.runtime.cache")

LABEL_INDEX_PREFIX = "label:"
# Every label of an object as "key=value": for kinds whose selectors name keys nobody knows in advance.
LABEL_PAIRS_INDEX = "labels"


def _label_pairs(obj: Obj) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return [f"{key}={value}" for key, value in labels.items()]


class KindNotCachedError(LookupError):
    """A cached read of a kind nobody registered with the cache (call ``cache.informer(kind)`` first)."""


class Cache:
    """Shared informers keyed by kind, plus read access to their stores.

    Reads return the cached dicts themselves, **not copies**: treat them as read-only and
    ``copy.deepcopy`` before editing (the same contract as controller-runtime's
    ``UnsafeDisableDeepCopy``, chosen because copies cost memory and CPU on every read).
    """

    def __init__(self, client: Client, options: CacheOptions | None = None) -> None:
        self.client = client
        self.options = options or CacheOptions()
        self._informers: dict[Kind, Informer] = {}
        self._started = False

    # -- informers -----------------------------------------------------------------------------------

    def informer(self, kind: Kind) -> Informer:
        """Returns the shared informer for ``kind``, creating it (and starting it, if the cache already
        runs) on first use. Every controller watching ``kind`` shares this one watch."""
        existing = self._informers.get(kind)
        if existing is not None:
            return existing
        opts = self.options.by_kind.get(kind, ByKind())
        informer = Informer(
            self.client,
            kind,
            namespace=(opts.namespace or self.options.namespace) if kind.namespaced else None,
            label_selector=opts.label_selector or self.options.label_selector,
            field_selector=opts.field_selector or self.options.field_selector,
            metadata_only=opts.metadata_only,
            resync_period=opts.resync_period or self.options.resync_period,
            transform=opts.transform or self.options.transform,
            min_watch_timeout=self.options.min_watch_timeout,
            read_timeout=self.options.read_timeout,
        )
        self._informers[kind] = informer
        if self._started:
            informer.start()
        return informer

    @property
    def informers(self) -> dict[Kind, Informer]:
        return dict(self._informers)

    def index_field(self, kind: Kind, name: str, fn: IndexFunc) -> None:
        """Registers a secondary index on ``kind`` usable as ``list(kind, index=(name, value))``."""
        self.informer(kind).add_indexer(name, fn)

    def index_label(self, kind: Kind, key: str) -> None:
        """Indexes ``kind`` by the value of label ``key``: a :meth:`list` whose selector requires
        ``key=value`` then reads that bucket instead of testing every cached object, which keeps a reconcile
        that lists "the pods of this workspace" O(its pods) rather than O(all pods)."""
        self.index_field(kind, LABEL_INDEX_PREFIX + key, index_by_label(key))

    def index_all_labels(self, kind: Kind) -> None:
        """Indexes ``kind`` by every label it carries, so that any equality selector reads a bucket (a
        workspace's node selector names whatever keys its user chose); costs an index entry per label."""
        self.index_field(kind, LABEL_PAIRS_INDEX, _label_pairs)

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts every registered informer (and any registered later)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))

    @property
    def has_synced(self) -> bool:
        """True when every registered informer has completed its first list."""
        return all(inf.has_synced for inf in self._informers.values())

    async def wait_for_sync(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Waits until every registered informer has synced; False on timeout."""
        results = await asyncio.gather(*(inf.wait_for_sync(timeout) for inf in self._informers.values()))
        return all(results)

    async def ensure(self, kind: Kind, timeout: float | None = None) -> Informer:  # noqa: ASYNC109
        """Registers ``kind`` if needed, starts its informer and waits for it to sync."""
        informer = self.informer(kind)
        informer.start()
        if not await informer.wait_for_sync(timeout):
            raise TimeoutError(f"cache for {kind} did not sync")
        return informer

    # -- reads ---------------------------------------------------------------------------------------

    def _store_of(self, kind: Kind) -> Informer:
        informer = self._informers.get(kind)
        if informer is None:
            raise KindNotCachedError(f"{kind} is not cached; register it with cache.informer(kind)")
        return informer

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """The cached object, or None. ``namespace`` is ignored for cluster-scoped kinds."""
        key = f"{namespace}/{name}" if kind.namespaced and namespace else name
        return self._store_of(kind).store.get(key)

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | dict[str, str] | LabelSelector | None = None,
        index: tuple[str, str] | None = None,
    ) -> list[Obj]:
        """Cached objects of ``kind``, optionally filtered by namespace, a label selector (string such as
        ``"app=x,tier!=db"`` or an equality dict) and an index lookup ``(index_name, value)``; built-in
        indexes are ``"namespace"`` and ``"owner"`` (owner UID)."""
        store = self._store_of(kind).store
        selector = None
        if label_selector is not None:
            selector = (
                label_selector
                if isinstance(label_selector, LabelSelector)
                else LabelSelector.parse(label_selector)
            )
            if index is None:
                index = _label_index(store, selector)
        if index is not None:
            items = store.by_index(index[0], index[1])
            if namespace and kind.namespaced:
                items = [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]
        elif namespace and kind.namespaced:
            items = store.by_index(NAMESPACE_INDEX, namespace)
        else:
            items = store.list()
        if selector is not None and not selector.empty:
            items = [o for o in items if selector.matches((o.get("metadata") or {}).get("labels"))]
        return items


def _label_index(store: Store, selector: LabelSelector) -> tuple[str, str] | None:
    """An indexed ``key=value`` requirement of ``selector``, if any."""
    for requirement in selector.requirements:
        if requirement.op == "in" and len(requirement.values) == 1:
            value = next(iter(requirement.values))
            name = LABEL_INDEX_PREFIX + requirement.key
            if store.has_index(name):
                return name, value
            if store.has_index(LABEL_PAIRS_INDEX):
                return LABEL_PAIRS_INDEX, f"{requirement.key}={value}"
    return None
