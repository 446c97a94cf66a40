"""Flags of ``kaito-workspace-controller``."""

from __future__ import annotations

import pytest

from kaito.cmd.workspace_controller import parse_args


def test_defaults_follow_upstream_names() -> None:
    args = parse_args([])
    assert args.metrics_bind_address == ":8080"
    assert args.health_probe_bind_address == ":8081"
    assert args.leader_elect is True
    assert args.enable_webhook is False
    assert args.log_format == "json"
    assert args.max_concurrent_reconciles >= 10
    # No client-side bucket by default (controller-runtime's default since v0.21): Priority and Fairness
    # in the apiserver does the protecting.
    assert args.kube_api_qps == 0


@pytest.mark.parametrize(("flags", "qps"), [(["--kube-client-qps=30"], 30.0), (["--kube-api-qps=-1"], 0.0)])
def test_upstream_qps_names_and_minus_one(flags: list[str], qps: float) -> None:
    args = parse_args([*flags, "--kube-client-burst=50"])
    assert (args.kube_api_qps, args.kube_api_burst) == (qps, 50)


def test_flags_parse() -> None:
    args = parse_args(
        [
            "--kubeconfig",
            "/tmp/kc",
            "--leader-elect=false",
            "--kube-api-qps",
            "50",
            "--kube-api-burst",
            "80",
            "--max-concurrent-reconciles",
            "4",
            "--preset-registry",
            "reg.io/kaito",
            "--release-namespace",
            "kaito",
            "--log-format",
            "console",
            "--enable-webhook",
            "--webhook-port",
            "9444",
            "--extra-toleration",
            "kwok.x-k8s.io/node=fake:NoSchedule",
            "--extra-toleration",
            "gpu:NoExecute",
        ]
    )
    assert args.kubeconfig == "/tmp/kc" and args.leader_elect is False
    assert (args.kube_api_qps, args.kube_api_burst, args.max_concurrent_reconciles) == (50.0, 80, 4)
    assert args.preset_registry == "reg.io/kaito" and args.release_namespace == "kaito"
    assert args.enable_webhook is True and args.webhook_port == 9444
    assert args.extra_toleration == [
        {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"},
    ]


def test_kubeconfig_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/env/kc")
    assert parse_args([]).kubeconfig == "/env/kc"
    with pytest.raises(SystemExit):
        parse_args(["--leader-elect=maybe"])


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--max-concurrent-reconciles=0", "must be at least 1, got 0"),
        ("--kube-api-burst=-5", "must be at least 1, got -5"),
        ("--kube-api-qps=nan", "must be a finite number"),
        ("--kube-client-qps=fast", "invalid number 'fast'"),
        ("--max-concurrent-reconciles=many", "invalid integer 'many'"),
    ],
)
def test_bad_numbers_are_usage_errors(flag: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args([flag])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
