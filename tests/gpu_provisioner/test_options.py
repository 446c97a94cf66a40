"""Flag parsing of the gpu-provisioner binary."""

from __future__ import annotations

import pytest

from gpu_provisioner.options import parse_options


def test_defaults() -> None:
    o = parse_options([], env={})
    assert o.provider == "local"
    assert o.manager.leader_elect is True
    assert o.machine_registration_ttl == 900
    assert o.gc_grace_period == 30
    assert o.manager.metrics_bind_address == ":8080"
    assert o.manager.health_probe_bind_address == ":8081"
    assert o.manager.kubeconfig is None
    assert o.manager.leader_election_id == "gpu-provisioner-leader-election"
    assert o.machine_selector == ""
    assert (o.manager.qps, o.manager.burst) == (200, 300)  # upstream's --kube-client-qps/-burst


def test_upstream_qps_names() -> None:
    o = parse_options(["--kube-client-qps=-1", "--kube-client-burst=10"], env={})
    assert (o.manager.qps, o.manager.burst) == (0, 10)  # -1: no client-side limit
    assert parse_options([], env={"KUBE_CLIENT_QPS": "50"}).manager.qps == 50
    # karpenter's names for the same settings
    o = parse_options([], env={"METRICS_PORT": "8000", "LEADER_ELECTION_NAME": "lease", "POD_NAMESPACE": "p"})
    assert (o.manager.metrics_bind_address, o.manager.leader_election_id) == (":8000", "lease")
    assert o.manager.leader_election_namespace == "p"


def test_flags_and_env() -> None:
    env = {"KUBECONFIG": "/k", "LEADER_ELECT": "false", "AZURE_SUBSCRIPTION_ID": "sub"}
    o = parse_options(
        [
            "--provider",
            "aks",
            "--machine-registration-ttl",
            "1h30m",
            "--kube-api-qps",
            "5",
            "--log-format",
            "console",
        ],
        env=env,
    )
    assert o.provider == "aks"
    assert o.manager.kubeconfig == "/k"
    assert o.manager.leader_elect is False
    assert o.machine_registration_ttl == 5400
    assert o.manager.qps == 5
    assert o.log_format == "console"
    assert parse_options(["--leader-elect=true"], env=env).manager.leader_elect is True
    assert parse_options(["--leader-elect"], env=env).manager.leader_elect is True
    assert parse_options([], env={"GC_INTERVAL": "1m", "LOG_LEVEL": "debug"}).gc_interval == 60


def test_bad_values() -> None:
    for flag in (
        "--max-concurrent-reconciles=0",
        "--kube-api-burst=0",
        "--kube-api-qps=inf",
        "--gc-interval=soon",
    ):
        with pytest.raises(SystemExit):
            parse_options([flag], env={})


def test_help_lists_upstream_flag_names(capsys: pytest.CaptureFixture[str]) -> None:
    from gpu_provisioner.cmd import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--kubeconfig",
        "--metrics-bind-address",
        "--health-probe-bind-address",
        "--leader-elect",
        "--kube-api-qps",
        "--kube-api-burst",
        "--machine-registration-ttl",
        "--gc-grace-period",
        "--log-format",
        "--provider",
        "--azure-subscription-id",
        "--azure-resource-group",
        "--azure-cluster-name",
        "--azure-node-resource-group",
        "--azure-location",
    ):
        assert flag in out, flag
