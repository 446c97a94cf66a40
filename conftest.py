"""Fixtures shared by every test folder: the real local control plane and clients for it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from e2e.cluster import LocalCluster
from e2e.cluster.hostchanges import host_snapshot, snapshot_diff
from kaito.runtime.client import Client


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One real control plane per test session, with a real node where this machine can run one (always
    in CI). Fails loudly if it cannot be built or started: a test that needs the cluster is never
    silently skipped. After the session the host must be exactly as before: no process, mount, link,
    route, iptables rule, cgroup, host path or sysctl of the real node's left."""
    before = host_snapshot()
    c = LocalCluster.start()
    os.environ["KAITO_TEST_KUBECONFIG"] = str(c.kubeconfig)
    try:
        yield c
    finally:
        had_node = c.real_node is not None
        c.stop()
        if had_node:
            left = snapshot_diff(before, host_snapshot())
            assert not left, f"the real node left changes on the host: {json.dumps(left, indent=1)}"


@pytest.fixture(scope="session")
async def kube_client(cluster: LocalCluster) -> AsyncIterator[Client]:
    """The runtime's client, as the binaries use it (no client-side rate limit)."""
    client = await Client.from_kubeconfig(cluster.kubeconfig, qps=0, burst=0, field_manager="kaito-tests")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
