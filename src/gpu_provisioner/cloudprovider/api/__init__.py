"""The contract between the Machine controllers and any cloud: requests, instances, errors."""

from gpu_provisioner.cloudprovider.api.errors import (
    CloudProviderError,
    FinalError,
    InstanceConflictError,
    InstanceNotFoundError,
    InsufficientCapacityError,
    InvalidRequestError,
    OperationInProgressError,
    QuotaExceededError,
    RetryableError,
    ThrottledError,
    UnauthorizedError,
)
from gpu_provisioner.cloudprovider.api.instance import Instance, InstanceState
from gpu_provisioner.cloudprovider.api.instancetype import (
    InstanceShape,
    InstanceTypeLookup,
)
from gpu_provisioner.cloudprovider.api.provider import CloudProvider
from gpu_provisioner.cloudprovider.api.request import NodeRequest, Taint, TaintEffect

__all__ = [
    "CloudProvider",
    "CloudProviderError",
    "FinalError",
    "Instance",
    "InstanceConflictError",
    "InstanceNotFoundError",
    "InstanceShape",
    "InstanceState",
    "InstanceTypeLookup",
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
]
