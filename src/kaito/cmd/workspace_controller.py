"""``kaito-workspace-controller``: the Workspace controller binary.

Flag names follow upstream's (controller-runtime/kubebuilder) so existing deployments carry over:
``--kubeconfig``, ``--metrics-bind-address``, ``--health-probe-bind-address``, ``--leader-elect``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from kaito.catalog import load_catalog
from kaito.egress import EgressPolicy
from kaito.runtime import CacheOptions, Manager, ManagerOptions, configure_logging, run_manager
from kaito.runtime.flags import add_flag, add_manager_flags, options_from_flags, parse_bool, positive_int
from kaito.runtime.memory import limit_malloc_arenas, limit_tls_read_buffer, settle_gc
from kaito.workspace import names
from kaito.workspace.catalog_source import CatalogPresets
from kaito.workspace.config import DEFAULT_REGISTRY, DEFAULT_RELEASE_NAMESPACE, ControllerConfig
from kaito.workspace.controller import cache_options, setup_workspace_controller
from kaito.workspace.kinds import WORKSPACE
from kaito.workspace.metrics import WorkspaceMetrics

LEADER_ELECTION_ID = "kaito-workspace-controller"
_log = structlog.get_logger("kaito.cmd.workspace")


def _toleration(value: str) -> dict[str, str]:
    """``key=value:Effect`` or ``key:Effect`` (operator Exists)."""
    spec, _, effect = value.rpartition(":")
    if not spec:
        raise argparse.ArgumentTypeError(f"expected key=value:Effect, got {value!r}")
    key, eq, val = spec.partition("=")
    toleration = {"key": key, "operator": "Equal" if eq else "Exists", "effect": effect}
    if eq:
        toleration["value"] = val
    return toleration


def _egress_policy(value: str) -> EgressPolicy:
    try:
        return EgressPolicy.parse(value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kaito-workspace-controller", description=__doc__)
    # No client-side bucket by default, as in controller-runtime since v0.21 on SIG API Machinery's
    # advice: the apiserver's Priority and Fairness protects it, and a client-side bucket only made a
    # burst of workspaces queue behind the controller's own requests (~7 per workspace).
    add_manager_flags(
        p, ManagerOptions(leader_elect=True, leader_election_id=LEADER_ELECTION_ID, qps=0.0, burst=200)
    )
    add_flag(
        p,
        "--max-concurrent-reconciles",
        type=positive_int,
        default=ControllerConfig.max_concurrent_reconciles,
        help="workspaces reconciled at once (default %(default)s)",
    )
    add_flag(
        p,
        "--preset-registry",
        env=("PRESET_REGISTRY_NAME",),
        default=DEFAULT_REGISTRY,
        help="registry of the preset images (<registry>/kaito-<preset>:<tag>)",
    )
    add_flag(
        p,
        "--release-namespace",
        env=("RELEASE_NAMESPACE",),
        default=DEFAULT_RELEASE_NAMESPACE,
        help="where the tuning templates (lora/qlora-params-template) live, and the Lease by default",
    )
    add_flag(
        p,
        "--datamovers-image",
        env=("DATAMOVERS_IMAGE",),
        default="",
        help="image of the tuning Job's downloader and pusher (default "
        "<preset-registry>/kaito-datamovers:<tag>)",
    )
    add_flag(
        p,
        "--egress-allow",
        env=("EGRESS_ALLOW",),
        type=_egress_policy,
        default="",
        metavar="CIDR|HOST[,...]",
        help="private destinations that tuning input URLs and output registries may use (CIDRs, host "
        "names, *.domain); checked at admission and by the data movers. Default: public hosts only",
    )
    add_flag(
        p,
        "--insecure-registries",
        env=("INSECURE_REGISTRIES",),
        type=lambda v: tuple(r.strip() for r in v.split(",") if r.strip()),
        default="",
        metavar="HOST:PORT[,...]",
        help="registries the tuning pusher speaks plain HTTP to (a registry on the node network)",
    )
    add_flag(
        p,
        "--allow-public-load-balancers",
        env=("ALLOW_PUBLIC_LOAD_BALANCERS",),
        type=parse_bool,
        default=False,
        help='honour the kaito.sh/enablelb: "True" Workspace annotation (a public LoadBalancer Service)',
    )
    # Upstream KAITO's flag is --webhook.
    add_flag(
        p,
        "--enable-webhook",
        "--webhook",
        dest="enable_webhook",
        env=("ENABLE_WEBHOOK",),
        type=parse_bool,
        default=False,
        help="also serve the validating admission webhook",
    )
    add_flag(p, "--webhook-port", env=("WEBHOOK_PORT",), type=int, default=9443, help="webhook listener")
    p.add_argument(
        "--extra-toleration",
        type=_toleration,
        action="append",
        default=[],
        metavar="KEY[=VALUE]:EFFECT",
        help="add a toleration to every workload pod (e.g. simulated nodes' own taint)",
    )
    return p.parse_args(argv)


def build(args: argparse.Namespace) -> Manager:
    options = options_from_flags(
        args, ManagerOptions(field_manager=names.FIELD_MANAGER, cache=CacheOptions(by_kind=cache_options()))
    )
    options.leader_election_namespace = options.leader_election_namespace or args.release_namespace
    mgr = Manager(options)
    catalog = load_catalog()
    config = ControllerConfig(
        preset_registry=args.preset_registry,
        release_namespace=args.release_namespace,
        extra_tolerations=tuple(args.extra_toleration),
        datamovers_image=args.datamovers_image,
        egress_allow=tuple(args.egress_allow.entries),
        insecure_registries=args.insecure_registries,
        allow_public_load_balancers=args.allow_public_load_balancers,
        max_concurrent_reconciles=args.max_concurrent_reconciles,
    )
    metrics = WorkspaceMetrics(mgr.metrics.registry, lambda: mgr.cache.list(WORKSPACE))
    setup_workspace_controller(
        mgr, mgr.client, CatalogPresets(catalog), config, mgr.event_recorder(names.EVENT_SOURCE), metrics
    )
    if args.enable_webhook:
        servers: list[Any] = []
        mgr.add(
            _webhook_runnable(args, catalog, mgr, servers.append),
            needs_leader=False,
            name="webhook",
        )
        # Not ready until the webhook answers: the Service sends admission reviews to ready replicas only.
        mgr.add_readyz_check("webhook", lambda: bool(servers) and bool(servers[-1].serving))
    return mgr


def _webhook_runnable(
    args: argparse.Namespace, catalog: Any, mgr: Manager, created: Callable[[Any], None]
) -> Any:
    # Imported here, not at the top, so a controller without the webhook does not load it; imported at
    # build time, not in run(), so the import cost shows where the shipped configuration is measured.
    from kaito.webhook import WebhookConfig, WebhookServer
    from kaito.webhook.metrics import WebhookMetrics

    async def run() -> None:
        config = WebhookConfig.from_env(args.release_namespace)
        config.port = args.webhook_port
        config.egress = args.egress_allow
        # The manager's client and registry: one connection, and the webhook's metrics on its /metrics.
        server = WebhookServer(mgr.client, catalog, config, metrics=WebhookMetrics(mgr.metrics.registry))
        created(server)
        await server.run(asyncio.Event())

    return run


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()
    limit_tls_read_buffer()
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    _log.info(
        "starting",
        leader_elect=args.leader_elect,
        qps=args.kube_api_qps,
        release_namespace=args.release_namespace,
        registry=args.preset_registry,
    )
    manager = build(args)
    settle_gc()
    return run_manager(manager)


if __name__ == "__main__":
    sys.exit(main())
