"""Command-line flags of the gpu-provisioner binary: the runtime's common manager flags (with upstream's
names and environment variables: ``--leader-elect``/``LEADER_ELECT``, ``--kube-client-qps``/
``KUBE_CLIENT_QPS``, ...) and the provisioner's own, each also readable from an environment variable so
the chart can set them either way."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gpu_provisioner.cloudprovider.aks import AKSConfig
from kaito.runtime import ManagerOptions
from kaito.runtime.flags import add_flag, add_manager_flags, options_from_flags, parse_duration, positive_int

# The upstream chart's Role grants update only on this lease name (upstream's binary used another).
LEADER_ELECTION_ID = "gpu-provisioner-leader-election"


@dataclass(frozen=True, slots=True)
class Options:
    provider: Literal["aks", "local"]
    manager: ManagerOptions
    machine_registration_ttl: float
    gc_grace_period: float
    gc_interval: float
    operation_timeout: float
    max_concurrent_reconciles: int
    machine_selector: str
    log_format: Literal["json", "console"]
    log_level: str
    local_create_delay: float
    args: argparse.Namespace


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpu-provisioner", description="Serves karpenter Machines with cloud GPU nodes."
    )
    # Upstream's defaults: leader election on, --kube-client-qps 200 / --kube-client-burst 300.
    add_manager_flags(
        p, ManagerOptions(leader_elect=True, leader_election_id=LEADER_ELECTION_ID, qps=200, burst=300), env
    )

    flag = functools.partial(add_flag, p, environ=env)

    flag("--provider", env=("CLOUD_PROVIDER",), choices=("aks", "local"), default="local", help="the cloud")
    flag(
        "--machine-registration-ttl",
        env=("MACHINE_REGISTRATION_TTL",),
        type=parse_duration,
        default=900.0,
        help="delete a launched Machine whose Node has not registered within this (default 15m)",
    )
    flag(
        "--gc-grace-period",
        env=("GC_GRACE_PERIOD",),
        type=parse_duration,
        default=30.0,
        help="age before an orphan instance, Machine or Node is collected (default 30s)",
    )
    flag(
        "--gc-interval",
        env=("GC_INTERVAL",),
        type=parse_duration,
        default=120.0,
        help="how often garbage collection runs (default 2m)",
    )
    flag(
        "--cloud-operation-timeout",
        env=("CLOUD_OPERATION_TIMEOUT",),
        type=parse_duration,
        default=1800.0,
        help="upper bound on one create or delete including its wait (default 30m)",
    )
    flag(
        "--max-concurrent-reconciles",
        env=("MAX_CONCURRENT_RECONCILES",),
        type=positive_int,
        default=10,
        help="Machines reconciled at once (default 10)",
    )
    flag(
        "--machine-selector",
        env=("MACHINE_SELECTOR",),
        default="",
        help="serve only Machines matching this label selector (e.g. to split Machines between "
        "provisioners); default: every Machine labelled kaito.sh/workspace or kaito.sh/ragengine",
    )
    flag(
        "--local-create-delay",
        env=("LOCAL_CREATE_DELAY",),
        type=parse_duration,
        default=0.0,
        help="local provider: simulated time to bring up a node",
    )
    AKSConfig.add_arguments(p)
    return p


def parse_options(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    env = dict(os.environ) if env is None else env
    a = build_parser(env).parse_args(argv)
    return Options(
        provider=a.provider,
        manager=options_from_flags(a),
        machine_registration_ttl=a.machine_registration_ttl,
        gc_grace_period=a.gc_grace_period,
        gc_interval=a.gc_interval,
        operation_timeout=a.cloud_operation_timeout,
        max_concurrent_reconciles=a.max_concurrent_reconciles,
        machine_selector=a.machine_selector,
        log_format=a.log_format,
        log_level=a.log_level,
        local_create_delay=a.local_create_delay,
        args=a,
    )
