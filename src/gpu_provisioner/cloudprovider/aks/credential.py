"""The production credential: workload identity where its webhook injected the env vars, else managed
identity or whatever DefaultAzureCredential finds. Tests inject their own AsyncTokenCredential."""

from __future__ import annotations

from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import DefaultAzureCredential


def default_credential(ca_bundle: str | None = None) -> AsyncTokenCredential:
    """``ca_bundle``: trust this PEM for the token endpoint too (private clouds, TLS-inspecting proxies)."""
    kwargs: dict[str, Any] = {}
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    # Interactive and developer-tool credentials make no sense in a pod and only slow the chain down.
    credential: AsyncTokenCredential = DefaultAzureCredential(
        exclude_visual_studio_code_credential=True,
        exclude_developer_cli_credential=True,
        exclude_powershell_credential=True,
        **kwargs,
    )
    return credential
