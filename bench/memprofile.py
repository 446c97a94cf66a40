"""Runs ``kaito-workspace-controller`` under tracemalloc; ``SIGUSR1`` writes where its live memory was
allocated to ``$BENCH_MEMPROFILE_OUT``. Used by ``BENCH_MEMPROFILE=1 make bench-workspaces`` to find what
the controller's resident memory is made of (tracemalloc's own bookkeeping inflates RSS in that mode)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def dump(_signum: int, _frame: FrameType | None) -> None:
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ]
    )
    out = Path(os.environ.get("BENCH_MEMPROFILE_OUT", "memprofile.txt"))
    lines = []
    total = sum(s.size for s in snapshot.statistics("filename"))
    lines.append(f"traced total: {total / 2**20:.1f} MiB")
    lines.append("== by file")
    for stat in snapshot.statistics("filename")[:25]:
        lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:8d}  {stat.traceback}")
    lines.append("== by line")
    for stat in snapshot.statistics("lineno")[:40]:
        lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:8d}  {stat.traceback}")
    lines.append("== by traceback (top 12)")
    for stat in snapshot.statistics("traceback")[:12]:
        lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:8d}")
        lines.extend("      " + line for line in stat.traceback.format()[-12:])
    out.write_text("\n".join(lines) + "\n")


def main() -> int:
    tracemalloc.start(int(os.environ.get("BENCH_MEMPROFILE_FRAMES", "8")))
    signal.signal(signal.SIGUSR1, dump)
    from kaito.cmd.workspace_controller import main as controller_main

    return controller_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
