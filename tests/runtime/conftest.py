"""Fixtures for kaito.runtime cluster tests: a runtime Client on the session's local cluster."""

from __future__ import annotations

import pytest

from kaito.runtime import Client


@pytest.fixture(scope="session")
def rt_client(kube_client: Client) -> Client:
    """A standalone runtime client (no rate limit) for setting up and checking cluster state."""
    return kube_client
