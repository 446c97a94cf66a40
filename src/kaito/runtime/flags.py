"""Command-line flags of manager binaries: the common set (kubebuilder's and client-go's names, with the
aliases upstream KAITO and karpenter use) and the argparse value types, so a bad flag is a one-line
usage error (exit 2) rather than a traceback from deep inside the manager.

Every flag may also come from the environment (the chart sets either): the command line wins, then the
first environment variable set, then the binary's default. An environment value goes through the same
parsing as the flag's, because argparse parses a string default as if it were given on the command line.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kaito.runtime.manager.options import ManagerOptions

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` spellings (``--leader-elect=false``), plus yes/no and on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (want true or false)")


def positive_int(text: str) -> int:
    """An integer of at least 1 (worker counts, bursts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def qps(text: str) -> float:
    """A client-side QPS limit; 0 or less (controller-runtime's ``-1``) turns the limit off."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return max(value, 0.0)


def parse_duration(text: str) -> float:
    """Go-style durations (``15m``, ``1h30m``, ``90s``, ``500ms``) or plain seconds, to seconds."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("empty duration")
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None or m.end() == pos:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (want e.g. 15m, 90s, 1h30m)")
        total += float(m["value"]) * _UNITS[m["unit"]]
        pos = m.end()
    return total


def add_flag(
    parser: argparse.ArgumentParser,
    *names: str,
    env: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    default: Any = None,
    type: Callable[[str], Any] | None = None,
    help: str | None = None,
    **kwargs: Any,
) -> None:
    """``parser.add_argument`` with a default from the first of ``env`` set in ``environ`` (default
    ``os.environ``). A :func:`parse_bool` flag also works bare: ``--leader-elect`` means true."""
    environ = os.environ if environ is None else environ
    from_env = next((environ[name] for name in env if environ.get(name)), None)
    if type is not None:
        kwargs["type"] = type
    if type is parse_bool:
        kwargs.setdefault("nargs", "?")
        kwargs.setdefault("const", True)
    if env and help is not None:
        help = f"{help} (env {', '.join(env)})"
    parser.add_argument(*names, default=default if from_env is None else from_env, help=help, **kwargs)


def add_manager_flags(
    parser: argparse.ArgumentParser,
    defaults: ManagerOptions | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """The flags every manager binary has, with ``defaults``' values (read back by
    :func:`options_from_flags`), plus ``--log-format`` and ``--log-level`` for ``configure_logging``.

    The second name of a flag is upstream's older or karpenter's spelling, so existing manifests and
    runbooks carry over (``--kube-client-qps``, ``--leader-election-name``, ``--metrics-addr``)."""
    d = defaults or ManagerOptions()
    environ = os.environ if environ is None else environ

    flag = functools.partial(add_flag, parser, environ=environ)

    def port_address(port_env: str, address: str) -> str:
        # karpenter's METRICS_PORT / HEALTH_PROBE_PORT carry a port alone.
        return f":{environ[port_env]}" if environ.get(port_env) else address

    flag(
        "--kubeconfig",
        env=("KUBECONFIG",),
        default=str(d.kubeconfig) if d.kubeconfig else None,
        help="kubeconfig path (default ~/.kube/config or in-cluster)",
    )
    flag(
        "--metrics-bind-address",
        "--metrics-addr",
        dest="metrics_bind_address",
        env=("METRICS_BIND_ADDRESS",),
        default=port_address("METRICS_PORT", d.metrics_bind_address),
        help='/metrics listener; "0" disables',
    )
    flag(
        "--health-probe-bind-address",
        "--health-addr",
        dest="health_probe_bind_address",
        env=("HEALTH_PROBE_BIND_ADDRESS",),
        default=port_address("HEALTH_PROBE_PORT", d.health_probe_bind_address),
        help='/healthz and /readyz listener; "0" disables',
    )
    flag(
        "--leader-elect",
        "--enable-leader-election",
        dest="leader_elect",
        env=("LEADER_ELECT",),
        type=parse_bool,
        default=d.leader_elect,
        help=f"compete for a Lease so that one replica works at a time (default {d.leader_elect})",
    )
    flag(
        "--leader-election-id",
        "--leader-election-name",
        dest="leader_election_id",
        env=("LEADER_ELECTION_ID", "LEADER_ELECTION_NAME"),
        default=d.leader_election_id,
        help="name of the Lease",
    )
    flag(
        "--leader-election-namespace",
        env=("LEADER_ELECTION_NAMESPACE", "POD_NAMESPACE"),
        default=d.leader_election_namespace,
        help="namespace of the Lease (default: the pod's own)",
    )
    flag(
        "--kube-api-qps",
        "--kube-client-qps",
        dest="kube_api_qps",
        env=("KUBE_CLIENT_QPS",),
        type=qps,
        default=d.qps,
        help="client-side QPS limit to the apiserver; 0 or -1 leaves it to the apiserver's Priority and "
        "Fairness",
    )
    flag(
        "--kube-api-burst",
        "--kube-client-burst",
        dest="kube_api_burst",
        env=("KUBE_CLIENT_BURST",),
        type=positive_int,
        default=d.burst,
        help="client-side burst, when a QPS limit is set",
    )
    flag(
        "--graceful-shutdown-timeout",
        env=("GRACEFUL_SHUTDOWN_TIMEOUT",),
        type=parse_duration,
        default=d.graceful_shutdown_timeout,
        help="how long in-flight reconciles may run after a stop signal (e.g. 30s)",
    )
    flag("--log-format", env=("LOG_FORMAT",), choices=("json", "console"), default="json", help="log lines")
    flag("--log-level", env=("LOG_LEVEL",), default="info", help="debug, info, warning or error")


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
