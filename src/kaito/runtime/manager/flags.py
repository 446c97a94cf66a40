"""Command-line flags for manager binaries, named as in kubebuilder scaffolds and client-go."""

from __future__ import annotations

import argparse
from dataclasses import replace

from kaito.runtime.manager.options import ManagerOptions


def add_manager_flags(parser: argparse.ArgumentParser, defaults: ManagerOptions | None = None) -> None:
    """Adds ``--kubeconfig``, ``--metrics-bind-address``, ``--health-probe-bind-address``,
    ``--leader-elect``, ``--leader-election-id``, ``--leader-election-namespace``, ``--kube-api-qps``,
    ``--kube-api-burst`` and ``--graceful-shutdown-timeout`` with ``defaults``' values."""
    d = defaults or ManagerOptions()
    parser.add_argument(
        "--kubeconfig", default=d.kubeconfig, help="path to a kubeconfig (default: in-cluster)"
    )
    parser.add_argument("--metrics-bind-address", default=d.metrics_bind_address, help='"0" disables')
    parser.add_argument(
        "--health-probe-bind-address", default=d.health_probe_bind_address, help='"0" disables'
    )
    parser.add_argument(
        "--leader-elect", action=argparse.BooleanOptionalAction, default=d.leader_elect, help="use a Lease"
    )
    parser.add_argument("--leader-election-id", default=d.leader_election_id)
    parser.add_argument("--leader-election-namespace", default=d.leader_election_namespace)
    parser.add_argument("--kube-api-qps", type=float, default=d.qps, help="client-side QPS limit")
    parser.add_argument("--kube-api-burst", type=int, default=d.burst, help="client-side burst")
    parser.add_argument("--graceful-shutdown-timeout", type=float, default=d.graceful_shutdown_timeout)


def options_from_flags(args: argparse.Namespace, base: ManagerOptions | None = None) -> ManagerOptions:
    """``base`` (or the defaults) with the values parsed by :func:`add_manager_flags`."""
    return replace(
        base or ManagerOptions(),
        kubeconfig=args.kubeconfig,
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        leader_elect=args.leader_elect,
        leader_election_id=args.leader_election_id,
        leader_election_namespace=args.leader_election_namespace,
        qps=args.kube_api_qps,
        burst=args.kube_api_burst,
        graceful_shutdown_timeout=args.graceful_shutdown_timeout,
    )
