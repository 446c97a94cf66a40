"""Builds a kubernetes_asyncio ``ApiClient`` from a kubeconfig file or the in-cluster service account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes_asyncio import client as k8s_client


async def load_api_client(
    kubeconfig: str | Path | None = None, context: str | None = None, pool_size: int = 100
) -> k8s_client.ApiClient:
    """Returns an ApiClient for ``kubeconfig`` (or ``$KUBECONFIG``/``~/.kube/config``), or the in-cluster
    config when no kubeconfig is given or found and ``KUBERNETES_SERVICE_HOST`` is set. Close it when done.

    Importing kubernetes_asyncio costs about 40 MiB of memory, so it happens here, on first use only."""
    from kubernetes_asyncio import client as k8s_client
    from kubernetes_asyncio import config as k8s_config

    cfg = k8s_client.Configuration()
    cfg.connection_pool_maxsize = pool_size
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    if not explicit and not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        await k8s_config.load_kube_config(
            config_file=str(explicit) if explicit else None, context=context, client_configuration=cfg
        )
    return k8s_client.ApiClient(configuration=cfg)
