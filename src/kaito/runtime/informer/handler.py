"""What informers call on changes. Handlers run on the event loop and must not block: enqueue and return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kaito.runtime.objects import Obj


class EventHandler(Protocol):
    """Receives cache changes. ``on_update(old, new)`` is also called by periodic resyncs with
    ``old is new``; ``on_delete`` gets the last known state (also for objects found missing on a relist)."""

    def on_add(self, obj: Obj, is_initial_list: bool) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


@dataclass
class HandlerFuncs:
    """An :class:`EventHandler` from optional plain functions."""

    add: Callable[[Obj, bool], None] | None = None
    update: Callable[[Obj, Obj], None] | None = None
    delete: Callable[[Obj], None] | None = None

    def on_add(self, obj: Obj, is_initial_list: bool) -> None:
        if self.add is not None:
            self.add(obj, is_initial_list)

    def on_update(self, old: Obj, new: Obj) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Obj) -> None:
        if self.delete is not None:
            self.delete(obj)
