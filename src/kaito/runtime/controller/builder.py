"""The fluent builder: ``mgr.controller(name).for_(kind).owns(kind).watches(kind, mapper).complete(r)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kaito.runtime.client.kind import Kind
from kaito.runtime.controller.controller import Controller, ReconcileFunc, Reconciler
from kaito.runtime.controller.handlers import EnqueueHandler, Mapper, object_mapper, owner_mapper
from kaito.runtime.controller.predicates import Predicate
from kaito.runtime.controller.request import Request
from kaito.runtime.workqueue.queue import WorkQueue
from kaito.runtime.workqueue.ratelimiters import RateLimiter

if TYPE_CHECKING:
    from kaito.runtime.cache.cache import Cache
    from kaito.runtime.metrics.registry import RuntimeMetrics


class ControllerHost(Protocol):
    """What a builder needs from the manager."""

    @property
    def cache(self) -> Cache: ...

    @property
    def metrics(self) -> RuntimeMetrics: ...

    def add_controller(self, controller: Controller) -> None: ...


@dataclass
class _Watch:
    kind: Kind
    mapper: Mapper
    predicates: list[Predicate] = field(default_factory=list)


class Builder:
    """Declares what a controller watches, then :meth:`complete` creates and registers it.

    * :meth:`for_` — the reconciled kind; its events enqueue the object's own Request.
    * :meth:`owns` — owned kinds; events enqueue the owner named by the ``controller: true``
      ownerReference whose group and kind match ``for_``'s kind.
    * :meth:`watches` — any kind with a ``mapper(obj) -> Iterable[Request]``.
    * :meth:`with_event_filter` — predicates applied to every watch of this controller.
    """

    def __init__(self, host: ControllerHost, name: str) -> None:
        self._host = host
        self._name = name
        self._for: _Watch | None = None
        self._owns: list[_Watch] = []
        self._watches: list[_Watch] = []
        self._filters: list[Predicate] = []
        self._max_concurrent = 1
        self._rate_limiter: RateLimiter | None = None

    def for_(self, kind: Kind, *predicates: Predicate) -> Builder:
        if self._for is not None:
            raise ValueError("for_() may only be called once")
        self._for = _Watch(kind, object_mapper, list(predicates))
        return self

    def owns(self, kind: Kind, *predicates: Predicate, controller_only: bool = True) -> Builder:
        self._owns.append(_Watch(kind, _DeferredOwner(controller_only), list(predicates)))
        return self

    def watches(self, kind: Kind, mapper: Mapper, *predicates: Predicate) -> Builder:
        self._watches.append(_Watch(kind, mapper, list(predicates)))
        return self

    def with_event_filter(self, *predicates: Predicate) -> Builder:
        self._filters.extend(predicates)
        return self

    def max_concurrent_reconciles(self, n: int) -> Builder:
        self._max_concurrent = n
        return self

    def with_rate_limiter(self, limiter: RateLimiter) -> Builder:
        self._rate_limiter = limiter
        return self

    def complete(self, reconciler: Reconciler | ReconcileFunc) -> Controller:
        """Creates the controller, hooks its handlers onto the shared informers and registers it with the
        manager, which starts it. Returns the controller."""
        if self._for is None and self._owns:
            raise ValueError("owns() requires for_()")
        if self._for is None and not self._watches:
            raise ValueError(f"controller {self._name!r} watches nothing")
        queue: WorkQueue[Request] = WorkQueue(self._name, self._rate_limiter, metrics=self._host.metrics)
        controller = Controller(
            self._name,
            reconciler,
            queue,
            max_concurrent_reconciles=self._max_concurrent,
            metrics=self._host.metrics,
        )
        watches: list[_Watch] = []
        if self._for is not None:
            watches.append(self._for)
            for owned in self._owns:
                assert isinstance(owned.mapper, _DeferredOwner)
                mapper = owner_mapper(self._for.kind, owned.mapper.controller_only)
                watches.append(_Watch(owned.kind, mapper, owned.predicates))
        watches.extend(self._watches)
        self._host.add_controller(controller)
        cache = self._host.cache
        for w in watches:
            handler = EnqueueHandler(queue, w.mapper, [*self._filters, *w.predicates])
            cache.informer(w.kind).add_handler(handler)
        return controller


class _DeferredOwner:
    """Placeholder mapper for owns(): the owner kind is only known once for_() is set."""

    def __init__(self, controller_only: bool) -> None:
        self.controller_only = controller_only

    def __call__(self, obj: dict[str, object]) -> list[Request]:
        raise RuntimeError("owner mapper used before complete()")
