"""argparse value types shared by the controller binaries, so a bad flag is a one-line usage error (exit
2) rather than a traceback from deep inside the manager."""

from __future__ import annotations

import argparse
import math


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` spellings (``--leader-elect=false``), plus yes/no and on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (want true or false)")


def positive_int(text: str) -> int:
    """An integer of at least 1 (worker counts, bursts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def qps(text: str) -> float:
    """A client-side QPS limit; 0 or less (controller-runtime's ``-1``) turns the limit off."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return max(value, 0.0)
