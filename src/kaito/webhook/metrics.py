"""Prometheus metrics of the admission webhook, registered on the registry the manager serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WebhookMetrics:
    """The webhook's metric families on ``registry`` (the manager's, so ``/metrics`` shows them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.admission_requests = Counter(
            "kaito_webhook_admission_requests_total",
            "Workspace admission reviews answered, by operation and verdict.",
            ["operation", "allowed"],
            registry=registry,
        )
        self.admission_duration = Histogram(
            "kaito_webhook_admission_duration_seconds",
            "Time to validate one Workspace admission review.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.certificate_expiry = Gauge(
            "kaito_webhook_certificate_expiry_timestamp_seconds",
            "Unix time at which the first of the webhook's CA and serving certificate expires.",
            registry=registry,
        )
