"""Azure providerIDs of scale-set VMs, as cloud-provider-azure writes them into ``Node.spec.providerID``.

Form: ``azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/
virtualMachineScaleSets/<vmss>/virtualMachines/<instance>``. cloud-provider-azure writes the
resource group in lower case; comparisons must therefore ignore case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(
    r"^azure:///subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<instance>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class AzureProviderID:
    subscription_id: str
    resource_group: str
    vmss_name: str
    instance_id: str

    @property
    def pool_name(self) -> str | None:
        """AKS names scale sets ``aks-<pool>-<digits>-vmss``; None for any other naming."""
        parts = self.vmss_name.split("-")
        if len(parts) >= 4 and parts[0] == "aks" and parts[-1] == "vmss":
            return parts[1]
        return None


def format_azure_provider_id(vm_resource_id: str) -> str:
    """providerID of a scale-set VM from its ARM resource id (the resource group is lower-cased)."""
    parts = vm_resource_id.strip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            parts[i + 1] = parts[i + 1].lower()
    return "azure:///" + "/".join(parts)


def parse_azure_provider_id(provider_id: str) -> AzureProviderID | None:
    m = _PATTERN.fullmatch(provider_id)
    if m is None:
        return None
    return AzureProviderID(m["sub"], m["rg"], m["vmss"], m["instance"])


def vmss_name_for(pool_name: str, cluster_hash: str) -> str:
    return f"aks-{pool_name}-{cluster_hash}-vmss"
