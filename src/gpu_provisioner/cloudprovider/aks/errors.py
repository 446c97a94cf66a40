"""Turn Azure SDK exceptions into the cloud layer's retryable / final errors, keeping ARM's own message."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from gpu_provisioner.cloudprovider.api.errors import (
    CloudProviderError,
    InstanceNotFoundError,
    InsufficientCapacityError,
    InvalidRequestError,
    OperationInProgressError,
    QuotaExceededError,
    RetryableError,
    ThrottledError,
    UnauthorizedError,
)

QUOTA_CODES = frozenset(
    {
        "QuotaExceeded",
        "InsufficientVCPUQuota",
        "ErrCode_InsufficientVCPUQuota",
        "SubscriptionQuotaExceeded",
        "OperationNotAllowedQuota",
        "PublicIPCountLimitReached",
    }
)
CAPACITY_CODES = frozenset(
    {
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "VMSizeNotSupported",
    }
)
NOT_FOUND_CODES = frozenset({"NotFound", "ResourceNotFound", "ResourceGroupNotFound"})
# AKS answers a PUT/DELETE on a pool with another operation running with 409 and this text (upstream #186).
_IN_PROGRESS_MARKERS = ("in progress", "another operation", "is being deleted", "is being created")


def _code_and_message(exc: HttpResponseError) -> tuple[str | None, str]:
    error = exc.error
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    return (str(code) if code else None), str(message or exc.message or exc)


def parse_retry_after(value: str) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110); None when it is neither."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _retry_after(exc: HttpResponseError) -> float | None:
    if exc.response is None:
        return None
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After")
    if not value:
        return None
    return parse_retry_after(str(value))


def classify(exc: BaseException, *, what: str) -> CloudProviderError | None:
    """The cloud-layer error for ``exc``, or None when it is not a cloud failure (a bug: let it propagate).

    ``what`` names the resource for NotFound messages ("agent pool ws1").
    """
    if isinstance(exc, CloudProviderError):
        return exc
    if isinstance(exc, HttpResponseError):
        return _classify_http(exc, what)
    if isinstance(exc, (AzureError, aiohttp.ClientError, OSError)):
        return RetryableError(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, TimeoutError):
        return RetryableError(f"{what}: timed out")
    return None


def _classify_http(exc: HttpResponseError, what: str) -> CloudProviderError:
    status = exc.status_code
    code, message = _code_and_message(exc)
    text = f"{code}: {message}" if code else message
    lowered = message.lower()
    if isinstance(exc, ClientAuthenticationError) and status is None:
        # The credential itself failed (no token): configuration, not the cloud.
        return UnauthorizedError(f"cannot authenticate to Azure: {message}", code=code)
    if status == 404 or code in NOT_FOUND_CODES:
        return InstanceNotFoundError(f"{what} not found: {message}", code=code or "NotFound")
    if status == 429:
        return ThrottledError(f"throttled: {text}", code=code, retry_after=_retry_after(exc))
    if code in QUOTA_CODES or (status is not None and 400 <= status < 500 and "quota" in lowered):
        return QuotaExceededError(message, code=code or "QuotaExceeded")
    if code in CAPACITY_CODES:
        return InsufficientCapacityError(message, code=code)
    if status == 409 and any(m in lowered for m in _IN_PROGRESS_MARKERS):
        return OperationInProgressError(text, code=code, retry_after=_retry_after(exc))
    if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
        return UnauthorizedError(text, code=code)
    if status is None or status >= 500 or status in (408, 409):
        return RetryableError(text, code=code, retry_after=_retry_after(exc))
    if 400 <= status < 500:
        return InvalidRequestError(text, code=code)
    # A 2xx status here is a long-running operation whose final status was Failed or Canceled.
    if code == "Canceled" or "cancel" in lowered:
        # Most likely our own delete (the Machine is going away): creating again here would leak.
        return RetryableError(text, code=code, retry_here=False)
    # A failure code we do not recognise may well go away on a second attempt.
    return RetryableError(text, code=code)
