"""Operation-level retry (tenacity): bounded attempts, Retry-After honoured but capped, each retry counted."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gpu_provisioner.cloudprovider.api.errors import RetryableError

if TYPE_CHECKING:
    from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics

log = structlog.get_logger(__name__)

# The public method being served, so that retries deep inside the SDK pipeline can be labelled with it.
current_method: ContextVar[str] = ContextVar("gpu_provisioner_cloudprovider_method", default="unknown")


@dataclass(frozen=True, slots=True)
class RetrySettings:
    attempts: int = 5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # A server may ask for any Retry-After; never sleep longer than this on its word.
    max_retry_after_s: float = 60.0


class _WaitRetryAfterOrBackoff:
    def __init__(self, settings: RetrySettings) -> None:
        self._settings = settings
        self._backoff = wait_exponential_jitter(
            multiplier=settings.initial_backoff_s,
            max=settings.max_backoff_s,
            jitter=settings.initial_backoff_s,
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return max(0.0, min(exc.retry_after, self._settings.max_retry_after_s))
        return float(self._backoff(state))


def operation_retrying(
    settings: RetrySettings, metrics: CloudProviderMetrics, provider: str, step: str
) -> AsyncRetrying:
    """Retries a step on RetryableError (unless it says retry_here=False); re-raises the last error."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = exc.kind if isinstance(exc, RetryableError) else type(exc).__name__
        method = current_method.get()
        metrics.retries.labels(method, provider, "operation", reason).inc()
        log.info(
            "cloudprovider.retry",
            provider=provider,
            method=method,
            step=step,
            attempt=state.attempt_number,
            reason=reason,
            error=str(exc),
            sleep_s=round(state.upcoming_sleep, 3),
        )

    return AsyncRetrying(
        retry=retry_if_exception(lambda e: isinstance(e, RetryableError) and e.retry_here),
        stop=stop_after_attempt(settings.attempts),
        wait=_WaitRetryAfterOrBackoff(settings),
        before_sleep=before_sleep,
        reraise=True,
    )
