"""A tiny controller binary for subprocess tests: For ConfigMap, logging every reconcile.

Each reconcile appends ``{"event": "start"|"end", "key", "identity", "t"}`` lines to ``--record``; the
manager's structlog output goes to stderr. Exit code: 0 after SIGTERM, 1 after losing the lease.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from kaito.runtime import Manager, ManagerOptions, Request, configure_logging, kinds, run_manager


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--namespace", required=True, help="namespace whose ConfigMaps are reconciled")
    parser.add_argument("--lease-name", default="runtime-test")
    parser.add_argument("--lease-namespace", default="default")
    parser.add_argument("--record", required=True)
    parser.add_argument("--reconcile-seconds", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args()
    configure_logging("json", "info")

    record = Path(args.record)
    mgr = Manager(
        ManagerOptions(
            kubeconfig=args.kubeconfig,
            metrics_bind_address="127.0.0.1:0",
            health_probe_bind_address="127.0.0.1:0",
            leader_elect=True,
            leader_election_id=args.lease_name,
            leader_election_namespace=args.lease_namespace,
            leader_election_identity=args.identity,
            graceful_shutdown_timeout=args.grace,
            field_manager="runtime-test",
        )
    )
    mgr.cache.options.namespace = args.namespace

    def note(event: str, req: Request) -> None:
        line = {"event": event, "key": str(req), "identity": args.identity, "t": time.time()}
        with record.open("a") as f:
            f.write(json.dumps(line) + "\n")

    async def reconcile(req: Request) -> None:
        note("start", req)
        if args.reconcile_seconds:
            await asyncio.sleep(args.reconcile_seconds)
        note("end", req)

    mgr.controller("proc").for_(kinds.CONFIGMAP).max_concurrent_reconciles(4).complete(reconcile)
    print(json.dumps({"pid_ready": True}), flush=True)
    return run_manager(mgr)


if __name__ == "__main__":
    sys.exit(main())
