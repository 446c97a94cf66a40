"""The manager binaries' common flags: names, upstream aliases, environment defaults, value parsing."""

from __future__ import annotations

import argparse

import pytest

from kaito.runtime import ManagerOptions, add_manager_flags, options_from_flags
from kaito.runtime.flags import add_flag, parse_bool, parse_duration


def _parse(argv: list[str], env: dict[str, str], defaults: ManagerOptions | None = None) -> ManagerOptions:
    parser = argparse.ArgumentParser()
    add_manager_flags(parser, defaults, env)
    return options_from_flags(parser.parse_args(argv))


def test_flags_map_to_options() -> None:
    opts = _parse(
        ["--kube-api-qps", "50", "--kube-api-burst", "80", "--leader-elect"],
        {},
        ManagerOptions(leader_election_id="kaito"),
    )
    assert (opts.qps, opts.burst, opts.leader_elect, opts.leader_election_id) == (50.0, 80, True, "kaito")
    assert opts.metrics_bind_address == ":8080" and opts.health_probe_bind_address == ":8081"
    defaults = _parse([], {})
    assert (defaults.qps, defaults.burst, defaults.leader_elect) == (20.0, 30, False)


def test_upstream_aliases() -> None:
    opts = _parse(
        [
            "--kube-client-qps=-1",
            "--kube-client-burst=9",
            "--enable-leader-election=true",
            "--leader-election-name=lease",
            "--metrics-addr=:9090",
            "--health-addr=:9091",
            "--graceful-shutdown-timeout=1m30s",
        ],
        {},
    )
    assert (opts.qps, opts.burst, opts.leader_elect, opts.leader_election_id) == (0.0, 9, True, "lease")
    assert (opts.metrics_bind_address, opts.health_probe_bind_address) == (":9090", ":9091")
    assert opts.graceful_shutdown_timeout == 90


def test_environment_defaults_and_the_command_line_wins() -> None:
    env = {
        "KUBECONFIG": "/kc",
        "LEADER_ELECT": "false",
        "KUBE_CLIENT_QPS": "7",
        "METRICS_PORT": "8000",
        "HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:1",
        "POD_NAMESPACE": "ns",
    }
    opts = _parse([], env, ManagerOptions(leader_elect=True))
    assert (opts.kubeconfig, opts.leader_elect, opts.qps) == ("/kc", False, 7.0)
    assert (opts.metrics_bind_address, opts.health_probe_bind_address) == (":8000", "127.0.0.1:1")
    assert opts.leader_election_namespace == "ns"
    opts = _parse(["--leader-elect", "--kube-api-qps=3", "--metrics-bind-address=0"], env)
    assert (opts.leader_elect, opts.qps, opts.metrics_bind_address) == (True, 3.0, "0")


def test_a_bad_environment_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse([], {"LEADER_ELECT": "maybe"})
    assert exc.value.code == 2
    assert "invalid boolean 'maybe'" in capsys.readouterr().err


def test_add_flag_help_names_the_environment() -> None:
    parser = argparse.ArgumentParser()
    add_flag(
        parser, "--webhook", env=("ENABLE_WEBHOOK",), environ={}, type=parse_bool, default=False, help="x"
    )
    assert "(env ENABLE_WEBHOOK)" in parser.format_help()
    assert parser.parse_args(["--webhook"]).webhook is True
    assert parser.parse_args(["--webhook=off"]).webhook is False


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("90", 90), ("500ms", 0.5), ("1h2m3s", 3723)])
def test_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "", "5d"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_bad_bool() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_bool("maybe")
