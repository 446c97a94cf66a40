"""Fixtures for kaito.runtime cluster tests: a runtime Client on the session's local cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.runtime import Client


@pytest.fixture(scope="session")
async def rt_client(cluster: Any) -> AsyncIterator[Client]:
    """A standalone runtime client (no rate limit) for setting up and checking cluster state."""
    client = await Client.from_kubeconfig(cluster.kubeconfig, qps=0, burst=0, field_manager="runtime-tests")
    try:
        yield client
    finally:
        await client.close()
