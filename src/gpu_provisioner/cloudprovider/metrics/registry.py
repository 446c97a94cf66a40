"""The cloud layer's metrics, registered on a caller-supplied registry so tests can run many."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)


class CloudProviderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.registry = registry
        self.duration = Histogram(
            "gpu_provisioner_cloudprovider_duration_seconds",
            "Duration of cloud provider calls, long-running operations included.",
            ["method", "provider"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "gpu_provisioner_cloudprovider_errors_total",
            "Cloud provider calls that ended in an error, by error class.",
            ["method", "provider", "error"],
            registry=registry,
        )
        self.retries = Counter(
            "gpu_provisioner_cloudprovider_retries_total",
            "Retries inside the cloud provider. layer=sdk: one HTTP request re-sent by the Azure SDK's"
            " retry policy; layer=operation: a whole step re-run by our own policy. reason: HTTP status"
            " or error class.",
            ["method", "provider", "layer", "reason"],
            registry=registry,
        )
        self.http_requests = Counter(
            "gpu_provisioner_cloudprovider_http_requests_total",
            "HTTP requests sent to the cloud API (every attempt), by response status.",
            ["provider", "verb", "status"],
            registry=registry,
        )
