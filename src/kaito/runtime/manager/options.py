"""Manager settings (controller-runtime ``manager.Options`` with the kubebuilder flag names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kaito.runtime.cache.options import CacheOptions

if TYPE_CHECKING:
    from kubernetes_asyncio import client as k8s_client


@dataclass
class ManagerOptions:
    """Everything a :class:`~kaito.runtime.Manager` needs.

    Attributes:
        kubeconfig, context: where to connect (None: ``$KUBECONFIG``, ``~/.kube/config`` or in-cluster).
        api_client: send requests through this kubernetes_asyncio ApiClient instead of the built-in
            connection (the manager does not close it).
        use_kubernetes_asyncio: load the kubeconfig with kubernetes_asyncio and send requests through its
            ApiClient (costs ~40 MiB RSS; the built-in loader covers certificates, tokens, token files
            and exec plugins and falls back to kubernetes_asyncio by itself for ``auth-provider``).
        metrics_bind_address: ``/metrics`` listener, e.g. ``":8080"``; ``"0"`` disables it.
        health_probe_bind_address: ``/healthz`` + ``/readyz`` listener, e.g. ``":8081"``; ``"0"`` disables.
        leader_elect: compete for a Lease before starting controllers and leader-only runnables.
        leader_election_id, leader_election_namespace: the Lease's name and namespace.
        leader_election_identity: this replica's holder identity (default ``<hostname>_<uuid>``).
        lease_duration, renew_deadline, retry_period: client-go/controller-runtime defaults 15/10/2 s.
        release_lease_on_shutdown: clear the holder on graceful shutdown so a standby takes over at once.
        qps, burst: client-side rate limit for all API requests (defaults 20/30).
        field_manager: default field manager for writes and server-side apply.
        graceful_shutdown_timeout: how long in-flight reconciles may run after stop (default 30 s).
        cache_sync_timeout: how long to wait for caches before failing (default 2 min).
        cache: informer cache settings (namespaces, selectors, metadata-only kinds, resync, transform).
        handle_signals: stop gracefully on SIGTERM/SIGINT (a second signal exits with status 1).
    """

    kubeconfig: str | Path | None = None
    context: str | None = None
    api_client: k8s_client.ApiClient | None = None
    use_kubernetes_asyncio: bool = False
    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    leader_elect: bool = False
    leader_election_id: str = ""
    leader_election_namespace: str = ""
    leader_election_identity: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_lease_on_shutdown: bool = True
    qps: float = 20.0
    burst: int = 30
    field_manager: str = "kaito-runtime"
    graceful_shutdown_timeout: float = 30.0
    cache_sync_timeout: float = 120.0
    cache: CacheOptions = field(default_factory=CacheOptions)
    handle_signals: bool = True
