"""Fixtures shared by every test folder: the real local control plane and clients for it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from e2e.cluster import LocalCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One real control plane per test session. Fails loudly if it cannot be built or started:
    a test that needs the cluster is never silently skipped."""
    c = LocalCluster.start()
    os.environ["KAITO_TEST_KUBECONFIG"] = str(c.kubeconfig)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
async def kube_api(cluster: LocalCluster) -> AsyncIterator[k8s_client.ApiClient]:
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    api = k8s_client.ApiClient(configuration)
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
