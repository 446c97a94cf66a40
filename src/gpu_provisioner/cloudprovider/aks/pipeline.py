"""Azure SDK pipeline pieces that keep the SDK's own retries bounded and visible in our metrics.

The SDK's RetryPolicy retries 408/429/5xx (and any response carrying Retry-After) by itself,
sleeping as long as the server asks. Ours counts every such retry, labels it with the public
method being served, and caps the sleep so that a hostile Retry-After cannot stall a worker.
"""

from __future__ import annotations

from typing import Any

import structlog
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import AsyncRetryPolicy
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest import AsyncHttpResponse, HttpRequest

from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics
from gpu_provisioner.cloudprovider.retry import current_method

log = structlog.get_logger(__name__)


class CountingAsyncRetryPolicy(AsyncRetryPolicy[HttpRequest, AsyncHttpResponse]):
    def __init__(
        self,
        *,
        metrics: CloudProviderMetrics,
        provider: str,
        retries: int,
        backoff_factor_s: float,
        backoff_max_s: float,
        max_retry_after_s: float,
    ) -> None:
        # Every counter gets the same bound: the SDK stops at whichever runs out first.
        super().__init__(
            retry_total=retries,
            retry_connect=retries,
            retry_read=retries,
            retry_status=retries,
            retry_backoff_factor=backoff_factor_s,
            retry_backoff_max=backoff_max_s,
        )
        self._metrics = metrics
        self._provider = provider
        self._max_retry_after_s = max_retry_after_s

    async def sleep(
        self,
        settings: dict[str, Any],
        transport: AsyncHttpTransport[HttpRequest, AsyncHttpResponse],
        response: PipelineResponse[HttpRequest, AsyncHttpResponse] | None = None,
    ) -> None:
        status = str(response.http_response.status_code) if response is not None else "transport"
        method = current_method.get()
        self._metrics.retries.labels(method, self._provider, "sdk", status).inc()
        retry_after = self.get_retry_after(response) if response is not None else None
        delay = retry_after if retry_after else self.get_backoff_time(settings)
        delay = max(0.0, min(delay, self._max_retry_after_s))
        log.info(
            "cloudprovider.sdk_retry",
            provider=self._provider,
            method=method,
            status=status,
            retry_after_s=retry_after,
            sleep_s=round(delay, 3),
        )
        if delay > 0:
            await transport.sleep(delay)


class ResponseCounter:
    """``raw_response_hook``: runs after the retry policy, so it sees every attempt."""

    def __init__(self, metrics: CloudProviderMetrics, provider: str) -> None:
        self._metrics = metrics
        self._provider = provider

    def __call__(self, response: PipelineResponse[HttpRequest, AsyncHttpResponse]) -> None:
        self._metrics.http_requests.labels(
            self._provider, response.http_request.method, str(response.http_response.status_code)
        ).inc()
