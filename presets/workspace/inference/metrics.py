"""Prometheus metrics of the inference server.

Each app gets its own registry so that several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class ServerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "kaito_inference_requests_total",
            "Requests by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kaito_inference_generation_duration_seconds",
            "Time from the start of a generation to its last token.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "kaito_inference_time_to_first_token_seconds",
            "Time from request to the first generated token.",
            ["endpoint"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.generated_tokens = Counter(
            "kaito_inference_generated_tokens_total", "Tokens generated.", ["endpoint"], registry=r
        )
        self.prompt_tokens = Counter(
            "kaito_inference_prompt_tokens_total", "Prompt tokens processed.", ["endpoint"], registry=r
        )
        self.in_progress = Gauge(
            "kaito_inference_requests_in_progress", "Generations running or queued.", registry=r
        )
        self.model_loaded = Gauge(
            "kaito_inference_model_loaded", "1 once the model is loaded and serving.", registry=r
        )
