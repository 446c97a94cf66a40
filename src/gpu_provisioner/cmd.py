"""The ``gpu-provisioner`` binary: flags, logging, the cloud provider, the Manager, run until stopped.

Exit status: 0 after SIGTERM/SIGINT, 1 after losing the leader lease (a standby takes over; the
process must not keep acting on Machines) or on any start-up failure.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog
from azure.core.credentials_async import AsyncTokenCredential

from gpu_provisioner.cloudprovider import CloudProvider, CloudProviderMetrics, build_cloud_provider
from gpu_provisioner.cloudprovider.aks import AKSConfig
from gpu_provisioner.controllers import LifecycleSettings, Provisioner, add_to_manager
from gpu_provisioner.controllers.kube import MACHINE
from gpu_provisioner.instancetypes import catalog_instance_types
from gpu_provisioner.options import Options, parse_options
from kaito.runtime import ByKind, CacheOptions, LeaderElectionLost, Manager, configure_logging
from kaito.runtime.memory import limit_malloc_arenas, limit_tls_read_buffer, settle_gc

log = structlog.get_logger("gpu_provisioner")
FIELD_MANAGER = "gpu-provisioner"


@dataclass
class App:
    manager: Manager
    provider: CloudProvider
    provisioner: Provisioner

    async def close(self) -> None:
        # The manager closes its client when it stops.
        await self.provider.close()


def settings_from(opts: Options) -> LifecycleSettings:
    return LifecycleSettings(
        registration_ttl=opts.machine_registration_ttl,
        operation_timeout=opts.operation_timeout,
        gc_grace_period=opts.gc_grace_period,
        gc_interval=opts.gc_interval,
    )


async def build_app(
    opts: Options,
    *,
    handle_signals: bool = True,
    credential: AsyncTokenCredential | None = None,
    aks_config: AKSConfig | None = None,
) -> App:
    """Everything wired but not started; tests run ``app.manager.run()`` themselves.

    ``credential`` and ``aks_config`` replace the ones built from the environment and flags (tests use
    them to point the real Azure SDK at an ARM emulator)."""
    mgr = Manager(
        replace(
            opts.manager,
            field_manager=FIELD_MANAGER,
            handle_signals=handle_signals,
            cache=CacheOptions(
                by_kind={MACHINE: ByKind(label_selector=opts.machine_selector)}
                if opts.machine_selector
                else {}
            ),
        )
    )
    if aks_config is None and opts.provider == "aks":
        aks_config = AKSConfig.from_args(opts.args, os.environ)
    provider = build_cloud_provider(
        opts.provider,
        CloudProviderMetrics(mgr.metrics.registry),
        aks_config=aks_config,
        credential=credential,
        kube_client=mgr.client,
        instance_types=catalog_instance_types(),
        local_create_delay_s=opts.local_create_delay,
    )
    provisioner = add_to_manager(
        mgr, provider, settings=settings_from(opts), max_concurrent_reconciles=opts.max_concurrent_reconciles
    )
    return App(manager=mgr, provider=provider, provisioner=provisioner)


async def serve(opts: Options) -> int:
    app = await build_app(opts)
    log.info(
        "starting gpu-provisioner",
        provider=opts.provider,
        leader_elect=opts.manager.leader_elect,
        registration_ttl=opts.machine_registration_ttl,
        gc_grace_period=opts.gc_grace_period,
    )
    try:
        await app.manager.run()
    except LeaderElectionLost:
        log.error("lost the leader lease; exiting so that a fresh process competes again")
        return 1
    finally:
        await app.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()
    limit_tls_read_buffer()
    opts = parse_options(argv)
    configure_logging(opts.log_format, opts.log_level)
    settle_gc()
    try:
        return asyncio.run(serve(opts))
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.exception("gpu-provisioner failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
