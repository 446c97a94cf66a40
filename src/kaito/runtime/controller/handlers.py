"""Event handlers that turn informer events into Requests on a controller's queue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import structlog

from kaito.runtime.client.kind import Kind
from kaito.runtime.controller.predicates import Predicate
from kaito.runtime.controller.request import Request
from kaito.runtime.objects import Obj
from kaito.runtime.workqueue.queue import WorkQueue

Mapper = Callable[[Obj], Iterable[Request]]

_log = structlog.get_logger("kaito.runtime.controller")


def owner_mapper(owner: Kind, controller_only: bool = True) -> Mapper:
    """Maps an owned object to its owner's Request (``Owns``). Owners match on group and kind; by default
    only the ownerReference with ``controller: true`` counts."""

    def mapper(obj: Obj) -> list[Request]:
        meta = obj.get("metadata") or {}
        out: list[Request] = []
        for ref in meta.get("ownerReferences") or []:
            if controller_only and not ref.get("controller"):
                continue
            if (
                ref.get("kind") != owner.kind
                or str(ref.get("apiVersion", "")).rpartition("/")[0] != owner.group
            ):
                continue
            ns = str(meta.get("namespace") or "") if owner.namespaced else ""
            out.append(Request(ns, str(ref.get("name", ""))))
        return out

    return mapper


def object_mapper(obj: Obj) -> list[Request]:
    """Maps an object to its own Request (``For``)."""
    return [Request.for_object(obj)]


class EnqueueHandler:
    """An informer :class:`~kaito.runtime.informer.EventHandler` that filters events through predicates,
    maps them to Requests and adds those to ``queue``. Updates enqueue the Requests of both old and new."""

    def __init__(
        self, queue: WorkQueue[Request], mapper: Mapper, predicates: Sequence[Predicate] = ()
    ) -> None:
        self.queue = queue
        self.mapper = mapper
        self.predicates = tuple(predicates)

    def _enqueue(self, *objs: Obj) -> None:
        seen: set[Request] = set()
        for obj in objs:
            try:
                requests = list(self.mapper(obj))
            except Exception:
                _log.exception("mapper failed", object=Request.for_object(obj).__str__())
                continue
            for req in requests:
                if req not in seen:
                    seen.add(req)
                    self.queue.add(req)

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        if all(p.create(obj) for p in self.predicates):
            self._enqueue(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self.predicates):
            self._enqueue(old, new)

    def on_delete(self, obj: Obj) -> None:
        if all(p.delete(obj) for p in self.predicates):
            self._enqueue(obj)
