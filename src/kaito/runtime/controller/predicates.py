"""Event filters (controller-runtime ``pkg/predicate``).

The change predicates (generation, labels, annotations, resourceVersion) filter **update** events only;
creates and deletes pass. :func:`label_selector` and :func:`custom` can filter every event type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kaito.runtime.informer.selector import LabelSelector
from kaito.runtime.objects import Obj


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class Predicate:
    """Decides per event whether it reaches the work queue. Each hook returns True to let it through."""

    create: Callable[[Obj], bool] = lambda obj: True
    update: Callable[[Obj, Obj], bool] = lambda old, new: True
    delete: Callable[[Obj], bool] = lambda obj: True

    def __and__(self, other: Predicate) -> Predicate:
        return and_(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return or_(self, other)

    def __invert__(self) -> Predicate:
        return not_(self)


def generation_changed() -> Predicate:
    """Passes updates whose ``metadata.generation`` changed (skips status-only writes and resyncs)."""
    return Predicate(update=lambda old, new: _meta(old).get("generation") != _meta(new).get("generation"))


def resource_version_changed() -> Predicate:
    """Drops periodic-resync updates (same resourceVersion)."""
    return Predicate(
        update=lambda old, new: _meta(old).get("resourceVersion") != _meta(new).get("resourceVersion")
    )


def labels_changed() -> Predicate:
    """Passes updates whose labels changed."""
    return Predicate(
        update=lambda old, new: (_meta(old).get("labels") or {}) != (_meta(new).get("labels") or {})
    )


def annotations_changed() -> Predicate:
    """Passes updates whose annotations changed."""
    return Predicate(
        update=lambda old, new: (_meta(old).get("annotations") or {}) != (_meta(new).get("annotations") or {})
    )


def label_selector(selector: str | Mapping[str, str]) -> Predicate:
    """Passes events of objects matching ``selector`` (for updates: if old or new matches)."""
    sel = LabelSelector.parse(selector)

    def match(obj: Obj) -> bool:
        return sel.matches(_meta(obj).get("labels"))

    return Predicate(create=match, update=lambda old, new: match(old) or match(new), delete=match)


def custom(
    create: Callable[[Obj], bool] | None = None,
    update: Callable[[Obj, Obj], bool] | None = None,
    delete: Callable[[Obj], bool] | None = None,
) -> Predicate:
    """A predicate from functions; hooks not given pass everything."""
    return Predicate(
        create=create or (lambda obj: True),
        update=update or (lambda old, new: True),
        delete=delete or (lambda obj: True),
    )


def and_(*preds: Predicate) -> Predicate:
    return Predicate(
        create=lambda obj: all(p.create(obj) for p in preds),
        update=lambda old, new: all(p.update(old, new) for p in preds),
        delete=lambda obj: all(p.delete(obj) for p in preds),
    )


def or_(*preds: Predicate) -> Predicate:
    return Predicate(
        create=lambda obj: any(p.create(obj) for p in preds),
        update=lambda old, new: any(p.update(old, new) for p in preds),
        delete=lambda obj: any(p.delete(obj) for p in preds),
    )


def not_(pred: Predicate) -> Predicate:
    return Predicate(
        create=lambda obj: not pred.create(obj),
        update=lambda old, new: not pred.update(old, new),
        delete=lambda obj: not pred.delete(obj),
    )
