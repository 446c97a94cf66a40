"""Extra long-running work the manager supervises (webhook servers, GC loops, ...)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

Runnable = Callable[[], Coroutine[Any, Any, None]]
"""An async function that runs until it is cancelled (the manager cancels it on shutdown). Returning or
raising early is treated as a failure that stops the manager, as in controller-runtime."""


@dataclass
class RunnableSpec:
    name: str
    func: Runnable
    needs_leader: bool
