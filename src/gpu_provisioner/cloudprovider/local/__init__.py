"""The local cloud provider: a simulated (kwok-managed) GPU Node per Machine, in the cluster itself."""

from gpu_provisioner.cloudprovider.local.node import (
    ANNOTATION_MACHINE,
    KWOK_ANNOTATION,
    LABEL_PROVIDER,
    node_name_for,
)
from gpu_provisioner.cloudprovider.local.provider import LocalCloudProvider

__all__ = ["ANNOTATION_MACHINE", "KWOK_ANNOTATION", "LABEL_PROVIDER", "LocalCloudProvider", "node_name_for"]
