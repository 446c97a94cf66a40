"""Names the cloud layer derives: agent-pool names and providerIDs."""

from gpu_provisioner.cloudprovider.naming.poolname import POOL_NAME_PATTERN, is_valid_pool_name, pool_name_for
from gpu_provisioner.cloudprovider.naming.providerid import (
    AzureProviderID,
    format_azure_provider_id,
    parse_azure_provider_id,
    vmss_name_for,
)

__all__ = [
    "POOL_NAME_PATTERN",
    "AzureProviderID",
    "format_azure_provider_id",
    "is_valid_pool_name",
    "parse_azure_provider_id",
    "pool_name_for",
    "vmss_name_for",
]
