"""The AKS cloud provider: one agent pool per Machine, through the real Azure SDK."""

from gpu_provisioner.cloudprovider.aks.config import AKSConfig
from gpu_provisioner.cloudprovider.aks.credential import default_credential
from gpu_provisioner.cloudprovider.aks.provider import AKSCloudProvider

__all__ = ["AKSCloudProvider", "AKSConfig", "default_credential"]
