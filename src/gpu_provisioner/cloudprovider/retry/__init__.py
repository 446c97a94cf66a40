"""Bounded, counted retries shared by the providers."""

from gpu_provisioner.cloudprovider.retry.policy import (
    RetrySettings,
    current_method,
    operation_retrying,
)

__all__ = ["RetrySettings", "current_method", "operation_retrying"]
