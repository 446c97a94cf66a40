"""Where a real node cannot run (no root, not Linux, missing packages) the reason is one line, and a
cluster started without asking for a node comes up with simulated pods only; where one was asked for
(CI), it is an error, never a silent skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.cluster import localcluster, realnode
from e2e.cluster.localcluster import ClusterError, LocalCluster


def test_without_root_the_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("e2e.cluster.realnode.os.geteuid", lambda: 1000)
    reason = realnode.unavailable_reason()
    assert reason is not None and "needs root" in reason and "\n" not in reason


def test_not_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("e2e.cluster.realnode.platform.system", lambda: "Darwin")
    assert "needs Linux" in (realnode.unavailable_reason() or "")


def test_missing_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("e2e.cluster.realnode.os.geteuid", lambda: 0)
    monkeypatch.setattr(
        "e2e.cluster.realnode.shutil.which", lambda tool: None if tool == "socat" else "/usr/bin/x"
    )
    assert "socat" in (realnode.unavailable_reason() or "") and "make system-deps" in (
        realnode.unavailable_reason() or ""
    )


def test_skip_or_fail_depends_on_whether_a_node_was_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localcluster, "unavailable_reason", lambda: "a real node needs root")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KAITO_REAL_NODE", raising=False)
    cluster = LocalCluster.__new__(LocalCluster)
    cluster.real_node, cluster.real_node_skipped, cluster.registry = None, None, None
    cluster._start_real_node(None)
    assert cluster.real_node is None and cluster.real_node_skipped == "a real node needs root"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ClusterError, match="no real node: a real node needs root"):
        cluster._start_real_node(None)


def test_a_node_that_never_took_the_lock_undoes_nothing() -> None:
    node = realnode.RealNode(cluster=None, registry="127.0.0.1:5001", workdir=Path("/nonexistent"))
    node.ledger.entries = [{"kind": "route", "spec": ["blackhole", "10.245.0.0/16"]}]
    assert node.stop() == []
    assert node.ledger.entries, "another node's ledger must be left alone"
