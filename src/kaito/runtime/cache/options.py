"""What the cache watches, per kind and by default."""

from __future__ import annotations

from dataclasses import dataclass, field

from kaito.runtime.client.kind import Kind
from kaito.runtime.informer.informer import Transform, strip_managed_fields


@dataclass(frozen=True)
class ByKind:
    """Restrictions for one kind; ``None`` fields fall back to :class:`CacheOptions`' defaults."""

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    metadata_only: bool = False
    transform: Transform | None = None
    resync_period: float | None = None


@dataclass
class CacheOptions:
    """Cache-wide settings.

    Attributes:
        namespace: watch only this namespace (None: all namespaces).
        label_selector, field_selector: default server-side filters for every kind.
        by_kind: per-kind overrides (selectors, metadata-only, transform, resync).
        resync_period: default periodic resync (None: off; controller-runtime's default is 10 h).
        transform: default object transform (strips ``managedFields``).
        read_timeout: client read timeout for watches.
        min_watch_timeout: server-side watch timeout lower bound (actual: ``[t, 2t)``).
    """

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    by_kind: dict[Kind, ByKind] = field(default_factory=dict)
    resync_period: float | None = None
    transform: Transform | None = strip_managed_fields
    read_timeout: float = 90.0
    min_watch_timeout: int = 300
