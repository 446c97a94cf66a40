"""Process-level memory settings for the controller binaries."""

from __future__ import annotations

import asyncio.sslproto
import contextlib
import ctypes
import ctypes.util
import gc

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Caps glibc's malloc arenas, as ``MALLOC_ARENA_MAX`` would. Call it before any thread starts.

    glibc gives each thread that allocates its own arena; the resolver and executor threads of an
    asyncio process then keep several mostly-empty arenas resident. Measured on the workspace controller
    with 200 workspaces: 87 MiB resident with the default, 81 MiB with two arenas. Returns False where
    glibc is not there (another libc), leaving the default.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    return False


def limit_tls_read_buffer(size: int = 32 * 1024) -> None:
    """Shrinks the read buffer asyncio gives every TLS connection from 256 KiB to ``size``.

    asyncio allocates (and zero-fills, so it is resident) ``SSLProtocol.max_size`` bytes per connection.
    A controller holds one connection per watch plus its request pool: ~45 at the peak of a burst, which
    tracemalloc showed as 10.5 MiB of the workspace controller's memory at 200 workspaces. A TLS record
    carries at most 16 KiB, so a 32 KiB buffer still takes whole records per read; only the number of
    ``recv`` calls on multi-megabyte lists grows, which costs nothing measurable.
    """
    if size < 16 * 1024 + 256:
        raise ValueError("the TLS read buffer must hold at least one full TLS record")
    asyncio.sslproto.SSLProtocol.max_size = size


def settle_gc(young_threshold: int = 10_000) -> None:
    """Takes everything allocated so far (modules, pydantic schemas, the catalog) out of the cyclic
    collector's reach and makes young collections rarer. Call it once set-up is done, before serving.

    Python's full collections walk every tracked object; with the imports (~150k objects) and a cache of
    200 workspaces' objects that took up to 840 ms of wall clock per pass on a busy 2-core machine, and the
    controller's 32 reconciles all stall for it. Frozen objects are never walked again; the informer cache
    is acyclic dicts and lists that reference counting frees, so rarer young collections only delay the
    collection of the few reference cycles (tasks, exception tracebacks) asyncio leaves behind.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)
