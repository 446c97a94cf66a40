"""Machine-creation expectations, so a cache that has not yet seen our Create never causes a second one.

Like ReplicaSet's ``ControllerExpectations`` but keyed by the names we created: a workspace's
expectations are satisfied once every name we created shows up in the cache (or is gone again after a
delete), or after a timeout in case a watch event was lost. Checking names against the cache needs no
hook into the informer's event handlers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT_SECONDS = 300.0


@dataclass
class _Record:
    names: set[str] = field(default_factory=set)
    since: float = 0.0


class MachineExpectations:
    """Per workspace key (``namespace/name``): the Machine names created but not yet seen in the cache."""

    def __init__(
        self, timeout: float = EXPECTATIONS_TIMEOUT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._records: dict[str, _Record] = {}
        self._timeout = timeout
        self._clock = clock

    def expect(self, key: str, names: Iterable[str]) -> None:
        record = self._records.setdefault(key, _Record())
        record.names.update(names)
        record.since = self._clock()

    def observe(self, key: str, name: str) -> None:
        """A create failed (so it will never be observed) or the object was seen."""
        record = self._records.get(key)
        if record is not None:
            record.names.discard(name)
            if not record.names:
                del self._records[key]

    def satisfied(self, key: str, seen: Callable[[str], bool]) -> bool:
        """True when every expected name is visible through ``seen`` or the record has timed out."""
        record = self._records.get(key)
        if record is None:
            return True
        record.names = {n for n in record.names if not seen(n)}
        if not record.names or self._clock() - record.since > self._timeout:
            del self._records[key]
            return True
        return False

    def pending_names(self, key: str) -> set[str]:
        record = self._records.get(key)
        return set(record.names) if record else set()

    def pending(self, key: str) -> int:
        record = self._records.get(key)
        return len(record.names) if record else 0

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
