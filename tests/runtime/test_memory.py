"""The arena cap is applied through glibc's mallopt where glibc is present, and never fails elsewhere."""

from __future__ import annotations

import platform

from kaito.runtime.memory import limit_malloc_arenas


def test_limit_malloc_arenas_takes_effect_on_glibc() -> None:
    applied = limit_malloc_arenas(2)
    if platform.libc_ver()[0] == "glibc":
        assert applied
