"""Errors every cloud provider raises, split by what the caller should do next.

* :class:`RetryableError`: the same call may succeed later (throttling, 5xx, a conflicting
  operation still running, a lost connection). ``retry_after`` is the cloud's hint in seconds.
* :class:`FinalError`: the same call will fail again until a human changes something (quota,
  an impossible request, missing permissions). Surface ``message`` - it is the cloud's own text.
* :class:`InstanceNotFoundError`: there is no instance for this Machine (delete: already gone).

Both retryable and final errors have already been retried inside the provider as far as its
bounded policy allows; a RetryableError reaching the caller means "requeue with backoff".

What a Machine controller is expected to do:

=====================  ======================================================================
create raises          then
=====================  ======================================================================
RetryableError         Launched=Unknown/False (reason LaunchFailed, message = str(err)); requeue
                       after ``err.retry_after`` or the workqueue backoff.
InsufficientCapacity   as karpenter: event + delete the Machine so it can be retried elsewhere.
other FinalError       Launched=False with ``err.message`` (the cloud's own text: quota, bad
                       request, permissions); requeue slowly, a human has to act.
=====================  ======================================================================

delete returning None or raising InstanceNotFoundError both mean "gone": remove the finalizer.
InstanceConflictError from delete means the name maps to something we did not make: do not retry.
"""

from __future__ import annotations


class CloudProviderError(Exception):
    """Base class. ``code`` is the cloud's machine-readable error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def kind(self) -> str:
        """Short label for metrics (bounded cardinality: one value per class)."""
        return type(self).__name__


class RetryableError(CloudProviderError):
    """``retry_here=False``: do not retry inside this call; the caller should look again (e.g. the
    instance is being deleted, perhaps because its Machine is) before calling again."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        retry_here: bool = True,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.retry_here = retry_here


class ThrottledError(RetryableError):
    """HTTP 429 from the cloud."""


class OperationInProgressError(RetryableError):
    """Another operation on the same instance is running (e.g. a create from a previous process)."""


class FinalError(CloudProviderError):
    pass


class QuotaExceededError(FinalError):
    """The subscription's quota for this instance family or region is exhausted."""


class InsufficientCapacityError(FinalError):
    """The cloud has no capacity for this instance type here (SKU unavailable, allocation failed).

    Karpenter's lifecycle deletes a Machine on this error so that it can be retried elsewhere.
    """


class InvalidRequestError(FinalError):
    """The request itself is wrong (bad name, unknown instance type, zero disk)."""


class UnauthorizedError(FinalError):
    """The identity lacks permissions or cannot authenticate at all."""


class InstanceConflictError(FinalError):
    """The cloud resource this Machine maps to exists but belongs to something else."""


class InstanceNotFoundError(CloudProviderError):
    pass
