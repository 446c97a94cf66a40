"""The cloud layer of gpu-provisioner: one node per Machine, on AKS or simulated locally.

Controllers use :class:`CloudProvider` (see ``api/provider.py``) and the errors in ``api/errors.py``;
:func:`build_cloud_provider` picks and instruments an implementation.
"""

from gpu_provisioner.cloudprovider.api import (
    CloudProvider,
    CloudProviderError,
    FinalError,
    Instance,
    InstanceConflictError,
    InstanceNotFoundError,
    InstanceShape,
    InstanceState,
    InstanceTypeLookup,
    InsufficientCapacityError,
    InvalidRequestError,
    NodeRequest,
    OperationInProgressError,
    QuotaExceededError,
    RetryableError,
    Taint,
    TaintEffect,
    ThrottledError,
    UnauthorizedError,
)
from gpu_provisioner.cloudprovider.factory import build_cloud_provider
from gpu_provisioner.cloudprovider.metrics import CloudProviderMetrics, InstrumentedCloudProvider

__all__ = [
    "CloudProvider",
    "CloudProviderError",
    "CloudProviderMetrics",
    "FinalError",
    "Instance",
    "InstanceConflictError",
    "InstanceNotFoundError",
    "InstanceShape",
    "InstanceState",
    "InstanceTypeLookup",
    "InstrumentedCloudProvider",
    "InsufficientCapacityError",
    "InvalidRequestError",
    "NodeRequest",
    "OperationInProgressError",
    "QuotaExceededError",
    "RetryableError",
    "Taint",
    "TaintEffect",
    "ThrottledError",
    "UnauthorizedError",
    "build_cloud_provider",
]
