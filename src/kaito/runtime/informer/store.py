"""The informer's local store: objects by ``namespace/name`` key, plus secondary indexes."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import Any

from kaito.runtime.objects import Obj

IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner"


def index_by_namespace(obj: Obj) -> list[str]:
    """Index value: the object's namespace (cluster-scoped objects are not indexed)."""
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def index_by_owner(obj: Obj) -> list[str]:
    """Index values: the UID of every ownerReference."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in refs if ref.get("uid")]


def index_by_label(key: str) -> IndexFunc:
    """An index on the value of label ``key``."""

    def index(obj: Obj) -> list[str]:
        value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
        return [value] if value is not None else []

    return index


def index_by_field(path: str) -> IndexFunc:
    """An index on a dotted field path such as ``"spec.nodeName"`` (scalar values only)."""
    parts = path.split(".")

    def index(obj: Obj) -> list[str]:
        cur: Any = obj
        for part in parts:
            if not isinstance(cur, dict):
                return []
            cur = cur.get(part)
        return [str(cur)] if cur is not None and not isinstance(cur, (dict, list)) else []

    return index


class Store:
    """A key → object map with named indexes kept up to date on every change. Not thread-safe; it is
    only touched from the event loop."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        for name, fn in (indexers or {}).items():
            self.add_indexer(name, fn)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def snapshot(self) -> dict[str, Obj]:
        """A shallow copy of the key → object map."""
        return dict(self._items)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Obj]:
        return builtins.list(self._items.values())

    @property
    def indexers(self) -> dict[str, IndexFunc]:
        return dict(self._indexers)

    def has_index(self, name: str) -> bool:
        return name in self._indexers

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Adds an index (indexing what is already stored). Adding a name twice replaces it."""
        self._indexers[name] = fn
        index: dict[str, set[str]] = {}
        self._indices[name] = index
        for key, obj in self._items.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        if index_name not in self._indices:
            raise KeyError(f"no index named {index_name!r}")
        return sorted(self._indices[index_name].get(value, ()))

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """Objects whose index function returned ``value``."""
        return [self._items[k] for k in self.index_keys(index_name, value) if k in self._items]

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def put(self, key: str, obj: Obj) -> Obj | None:
        """Stores ``obj``; returns the previous object under ``key``."""
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Removes ``key``; returns the removed object."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, items: dict[str, Obj]) -> None:
        """Swaps the whole content (after a relist) and rebuilds the indexes."""
        self._items = items
        for name, fn in list(self._indexers.items()):
            self.add_indexer(name, fn)
