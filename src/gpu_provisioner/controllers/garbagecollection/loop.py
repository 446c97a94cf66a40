"""Run GC passes forever at a fixed interval; a failed pass is logged and the next one tries again."""

from __future__ import annotations

import asyncio

import structlog

from gpu_provisioner.controllers.garbagecollection.collector import GarbageCollector

log = structlog.get_logger(__name__)


async def run_periodically(gc: GarbageCollector, interval: float) -> None:
    while True:
        try:
            await gc.run_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gc pass failed")
        await asyncio.sleep(interval)
