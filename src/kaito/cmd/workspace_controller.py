"""``kaito-workspace-controller``: the Workspace controller binary.

Flag names follow upstream's (controller-runtime/kubebuilder) so existing deployments carry over:
``--kubeconfig``, ``--metrics-bind-address``, ``--health-probe-bind-address``, ``--leader-elect``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from kaito.catalog import load_catalog
from kaito.egress import EgressPolicy
from kaito.runtime import CacheOptions, Manager, ManagerOptions, configure_logging, run_manager
from kaito.runtime.flags import parse_bool, positive_int, qps
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
    env = os.environ.get
    p = argparse.ArgumentParser(prog="kaito-workspace-controller", description=__doc__)
    p.add_argument(
        "--kubeconfig",
        default=env("KUBECONFIG"),
        help="kubeconfig path (default $KUBECONFIG, ~/.kube/config or in-cluster)",
    )
    p.add_argument("--metrics-bind-address", default=":8080", help='/metrics listener; "0" disables')
    p.add_argument("--health-probe-bind-address", default=":8081", help='/healthz and /readyz; "0" disables')
    p.add_argument(
        "--leader-elect",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        help="compete for a Lease so only one replica reconciles (default true)",
    )
    p.add_argument(
        "--leader-election-namespace",
        default=None,
        help="namespace of the Lease (default: the release namespace)",
    )
    # Off by default, as in controller-runtime since v0.21 on SIG API Machinery's advice: the apiserver's
    # Priority and Fairness protects it, and a client-side bucket only made a burst of workspaces queue
    # behind the controller's own requests (~7 per workspace). Upstream KAITO's names (--kube-client-*)
    # are accepted, so its manifests and runbooks carry over.
    p.add_argument(
        "--kube-api-qps",
        "--kube-client-qps",
        dest="kube_api_qps",
        type=qps,
        default=0.0,
        help="client-side QPS limit to the apiserver; 0 or -1 (the default) leaves it to the apiserver's "
        "Priority and Fairness",
    )
    p.add_argument(
        "--kube-api-burst",
        "--kube-client-burst",
        dest="kube_api_burst",
        type=positive_int,
        default=200,
        help="client-side burst, when a QPS limit is set",
    )
    p.add_argument(
        "--max-concurrent-reconciles",
        type=positive_int,
        default=ControllerConfig.max_concurrent_reconciles,
        help="workspaces reconciled at once (default %(default)s)",
    )
    p.add_argument(
        "--preset-registry",
        default=env("PRESET_REGISTRY_NAME", DEFAULT_REGISTRY),
        help="registry of the preset images (<registry>/kaito-<preset>:<tag>)",
    )
    p.add_argument(
        "--release-namespace",
        default=env("RELEASE_NAMESPACE", DEFAULT_RELEASE_NAMESPACE),
        help="where the tuning templates (lora/qlora-params-template) live",
    )
    p.add_argument(
        "--datamovers-image",
        default=env("DATAMOVERS_IMAGE", ""),
        help="image of the tuning Job's downloader and pusher (default "
        "<preset-registry>/kaito-datamovers:<tag>)",
    )
    p.add_argument(
        "--egress-allow",
        type=_egress_policy,
        default=_egress_policy(env("EGRESS_ALLOW", "")),
        metavar="CIDR|HOST[,...]",
        help="private destinations that tuning input URLs and output registries may use (CIDRs, host "
        "names, *.domain); checked at admission and by the data movers. Default: public hosts only",
    )
    p.add_argument(
        "--insecure-registries",
        type=lambda v: tuple(r.strip() for r in v.split(",") if r.strip()),
        default=tuple(r.strip() for r in env("INSECURE_REGISTRIES", "").split(",") if r.strip()),
        metavar="HOST:PORT[,...]",
        help="registries the tuning pusher speaks plain HTTP to (a registry on the node network)",
    )
    p.add_argument("--log-format", choices=["json", "console"], default="json")
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--enable-webhook",
        type=parse_bool,
        nargs="?",
        const=True,
        default=False,
        help="also serve the validating admission webhook",
    )
    p.add_argument("--webhook-port", type=int, default=int(env("WEBHOOK_PORT", "9443")))
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
    options = ManagerOptions(
        kubeconfig=args.kubeconfig,
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        leader_elect=args.leader_elect,
        leader_election_id=LEADER_ELECTION_ID,
        leader_election_namespace=args.leader_election_namespace or args.release_namespace,
        qps=args.kube_api_qps,
        burst=args.kube_api_burst,
        field_manager=names.FIELD_MANAGER,
        cache=CacheOptions(by_kind=cache_options()),
    )
    mgr = Manager(options)
    catalog = load_catalog()
    config = ControllerConfig(
        preset_registry=args.preset_registry,
        release_namespace=args.release_namespace,
        extra_tolerations=tuple(args.extra_toleration),
        datamovers_image=args.datamovers_image,
        egress_allow=tuple(args.egress_allow.entries),
        insecure_registries=args.insecure_registries,
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
