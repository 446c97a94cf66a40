"""Command-line flags of the gpu-provisioner binary, with the names operators know from upstream
(controller-runtime's bind addresses, ``--leader-elect``, ``--kube-api-qps``), each also readable
from an environment variable so the chart can set them either way."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gpu_provisioner.cloudprovider.aks import AKSConfig
from kaito.runtime.flags import parse_bool, positive_int, qps

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Go-style durations (``15m``, ``1h30m``, ``90s``) or plain seconds, to seconds."""
    text = text.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None or m.end() == pos:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (want e.g. 15m, 90s, 1h30m)")
        total += float(m["value"]) * _UNITS[m["unit"]]
        pos = m.end()
    if not text:
        raise argparse.ArgumentTypeError("empty duration")
    return total


@dataclass(frozen=True, slots=True)
class Options:
    provider: Literal["aks", "local"]
    kubeconfig: str | None
    metrics_bind_address: str
    health_probe_bind_address: str
    leader_elect: bool
    leader_election_id: str
    leader_election_namespace: str
    kube_api_qps: float
    kube_api_burst: int
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


def _env(env: Mapping[str, str], *names: str, default: str) -> str:
    for name in names:
        if env.get(name):
            return env[name]
    return default


def _namespace_default(env: Mapping[str, str]) -> str:
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "gpu-provisioner"
    except OSError:
        return "gpu-provisioner"


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpu-provisioner", description="Serves karpenter Machines with cloud GPU nodes."
    )
    p.add_argument(
        "--provider", choices=("aks", "local"), default=_env(env, "CLOUD_PROVIDER", default="local")
    )
    p.add_argument(
        "--kubeconfig", default=env.get("KUBECONFIG") or None, help="env KUBECONFIG; else in-cluster"
    )
    p.add_argument(
        "--metrics-bind-address",
        default=_env(env, "METRICS_BIND_ADDRESS", default=":" + _env(env, "METRICS_PORT", default="8080")),
        help='address for /metrics; "0" disables',
    )
    p.add_argument(
        "--health-probe-bind-address",
        default=_env(
            env, "HEALTH_PROBE_BIND_ADDRESS", default=":" + _env(env, "HEALTH_PROBE_PORT", default="8081")
        ),
        help='address for /healthz and /readyz; "0" disables',
    )
    p.add_argument(
        "--leader-elect",
        type=parse_bool,
        nargs="?",
        const=True,
        default=parse_bool(_env(env, "LEADER_ELECT", default="true")),
        help="env LEADER_ELECT (default true)",
    )
    # The upstream chart's Role grants update only on this lease name (upstream's binary used another).
    p.add_argument(
        "--leader-election-id",
        default=_env(env, "LEADER_ELECTION_NAME", default="gpu-provisioner-leader-election"),
    )
    p.add_argument("--leader-election-namespace", default=_env(env, "LEADER_ELECTION_NAMESPACE", default=""))
    # Upstream's defaults and names (--kube-client-qps, KUBE_CLIENT_QPS); 0 or -1 turns the limit off.
    p.add_argument(
        "--kube-api-qps",
        "--kube-client-qps",
        dest="kube_api_qps",
        type=qps,
        default=qps(_env(env, "KUBE_CLIENT_QPS", default="200")),
    )
    p.add_argument(
        "--kube-api-burst",
        "--kube-client-burst",
        dest="kube_api_burst",
        type=positive_int,
        default=int(_env(env, "KUBE_CLIENT_BURST", default="300")),
    )
    p.add_argument(
        "--machine-registration-ttl",
        type=parse_duration,
        default=parse_duration(_env(env, "MACHINE_REGISTRATION_TTL", default="15m")),
        help="delete a launched Machine whose Node has not registered within this (default 15m)",
    )
    p.add_argument(
        "--gc-grace-period",
        type=parse_duration,
        default=parse_duration(_env(env, "GC_GRACE_PERIOD", default="30s")),
        help="age before an orphan instance, Machine or Node is collected (default 30s)",
    )
    p.add_argument(
        "--gc-interval",
        type=parse_duration,
        default=parse_duration(_env(env, "GC_INTERVAL", default="2m")),
        help="how often garbage collection runs (default 2m)",
    )
    p.add_argument(
        "--cloud-operation-timeout",
        type=parse_duration,
        default=parse_duration(_env(env, "CLOUD_OPERATION_TIMEOUT", default="30m")),
        help="upper bound on one create or delete including its wait (default 30m)",
    )
    p.add_argument("--max-concurrent-reconciles", type=positive_int, default=10)
    p.add_argument(
        "--machine-selector",
        default=_env(env, "MACHINE_SELECTOR", default=""),
        help="serve only Machines matching this label selector (e.g. to split Machines between "
        "provisioners); default: every Machine labelled kaito.sh/workspace or kaito.sh/ragengine",
    )
    p.add_argument(
        "--log-format", choices=("json", "console"), default=_env(env, "LOG_FORMAT", default="json")
    )
    p.add_argument("--log-level", default=_env(env, "LOG_LEVEL", default="info"))
    p.add_argument(
        "--local-create-delay",
        type=parse_duration,
        default=parse_duration(_env(env, "LOCAL_CREATE_DELAY", default="0s")),
        help="local provider: simulated time to bring up a node",
    )
    AKSConfig.add_arguments(p)
    return p


def parse_options(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    env = dict(os.environ) if env is None else env
    a = build_parser(env).parse_args(argv)
    return Options(
        provider=a.provider,
        kubeconfig=a.kubeconfig,
        metrics_bind_address=a.metrics_bind_address,
        health_probe_bind_address=a.health_probe_bind_address,
        leader_elect=a.leader_elect,
        leader_election_id=a.leader_election_id,
        leader_election_namespace=a.leader_election_namespace or _namespace_default(env),
        kube_api_qps=a.kube_api_qps,
        kube_api_burst=a.kube_api_burst,
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
