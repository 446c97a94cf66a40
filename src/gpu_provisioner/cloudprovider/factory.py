"""Pick a provider by name and wrap it with metrics: what the gpu-provisioner binary calls."""

from __future__ import annotations

from typing import Literal

from azure.core.credentials_async import AsyncTokenCredential

from gpu_provisioner.cloudprovider.aks import AKSCloudProvider, AKSConfig
from gpu_provisioner.cloudprovider.api.errors import InvalidRequestError
from gpu_provisioner.cloudprovider.api.instancetype import InstanceTypeLookup
from gpu_provisioner.cloudprovider.api.provider import CloudProvider
from gpu_provisioner.cloudprovider.local import LocalCloudProvider
from gpu_provisioner.cloudprovider.metrics import CloudProviderMetrics, InstrumentedCloudProvider
from kaito.runtime.client import Client


def build_cloud_provider(
    kind: Literal["aks", "local"],
    metrics: CloudProviderMetrics,
    *,
    aks_config: AKSConfig | None = None,
    credential: AsyncTokenCredential | None = None,
    kube_client: Client | None = None,
    instance_types: InstanceTypeLookup | None = None,
    local_create_delay_s: float = 0.0,
) -> InstrumentedCloudProvider:
    inner: CloudProvider
    if kind == "aks":
        if aks_config is None:
            raise InvalidRequestError("the aks provider needs an AKSConfig (AKSConfig.from_env)")
        inner = AKSCloudProvider(aks_config, metrics, credential=credential, instance_types=instance_types)
    elif kind == "local":
        if kube_client is None:
            raise InvalidRequestError("the local provider needs a Kubernetes client")
        inner = LocalCloudProvider(
            kube_client, metrics, instance_types=instance_types, create_delay_s=local_create_delay_s
        )
    else:
        raise InvalidRequestError(f"unknown cloud provider {kind!r}; want aks or local")
    return InstrumentedCloudProvider(inner, metrics)
