"""``make cluster-up`` / ``make cluster-down`` (``python -m e2e.cluster up|down``) with a real node leave
the host exactly as they found it: after a clean stop, and after the supervisor was killed with
SIGKILL (its pods' containers, shims and mounts outlive it; ``down`` replays its ledger).

One real node runs per machine, so ``hack/run-tests.sh`` runs this file in a pytest session of its own,
before the suite whose session cluster has one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.cluster.hostchanges import host_snapshot, snapshot_diff
from e2e.cluster.realnode import TAINT_KEY, unavailable_reason
from e2e.harness import REPO

pytestmark = [pytest.mark.cluster_cli, pytest.mark.slow]

PAUSE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "sleeper", "namespace": "default"},
    "spec": {
        "nodeSelector": {TAINT_KEY: "true"},
        "tolerations": [{"key": TAINT_KEY, "operator": "Exists"}],
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "pause", "image": "localhost/kaito/pause:3.10"}],
    },
}


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KAITO_CLUSTER_DIR=str(state_dir), KAITO_REAL_NODE="1")
    return subprocess.run(
        [sys.executable, "-m", "e2e.cluster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def kubectl(state_dir: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(state_dir / "bin" / "kubectl"), f"--kubeconfig={state_dir / 'kubeconfig'}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def up_with_a_running_pod(state_dir: Path) -> dict[str, object]:
    out = cli(state_dir, "up")
    assert out.returncode == 0, out.stdout + out.stderr
    state = json.loads((state_dir / "state.json").read_text())
    assert state["real_node"] is True, state
    assert kubectl(state_dir, "apply", "-f", "-", input=json.dumps(PAUSE_POD)).returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        phase = kubectl(state_dir, "get", "pod", "sleeper", "-o", "jsonpath={.status.phase}").stdout
        if phase == "Running":
            return dict(state)
        time.sleep(0.5)
    raise AssertionError("the pod did not start on the real node")


@pytest.fixture
def before() -> dict[str, object]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no real node: {reason}")
    return host_snapshot()


def test_cluster_down_leaves_nothing(before: dict[str, object], tmp_path: Path) -> None:
    up_with_a_running_pod(tmp_path)
    assert snapshot_diff(before, host_snapshot()), "the real node changed nothing on the host?"
    out = cli(tmp_path, "down")
    assert out.returncode == 0, out.stdout + out.stderr
    assert snapshot_diff(before, host_snapshot()) == {}


def test_cluster_down_after_the_supervisor_was_killed_leaves_nothing(
    before: dict[str, object], tmp_path: Path
) -> None:
    state = up_with_a_running_pod(tmp_path)
    os.kill(int(str(state["pid"])), signal.SIGKILL)
    time.sleep(1)
    out = cli(tmp_path, "down")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "undid the real node's host changes" in out.stdout
    assert snapshot_diff(before, host_snapshot()) == {}
