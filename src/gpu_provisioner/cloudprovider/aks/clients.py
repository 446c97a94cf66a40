"""The two Azure SDK clients the AKS provider uses, sharing one retry policy and credential."""

from __future__ import annotations

from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient

from gpu_provisioner.cloudprovider.aks.config import AKSConfig
from gpu_provisioner.cloudprovider.aks.pipeline import CountingAsyncRetryPolicy, ResponseCounter
from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics

PROVIDER_NAME = "aks"
# Upstream's telemetry id, so ARM-side logs can tell our calls apart.
USER_AGENT = "gpu-provisioner-aks-py"


class AzureClients:
    def __init__(
        self, config: AKSConfig, credential: AsyncTokenCredential, metrics: CloudProviderMetrics
    ) -> None:
        kwargs: dict[str, Any] = {
            "base_url": config.arm_endpoint,
            "credential_scopes": [config.credential_scope],
            "polling_interval": config.polling_interval_s,
            "retry_policy": CountingAsyncRetryPolicy(
                metrics=metrics,
                provider=PROVIDER_NAME,
                retries=config.sdk_retries,
                backoff_factor_s=config.sdk_backoff_factor_s,
                backoff_max_s=config.sdk_backoff_max_s,
                max_retry_after_s=config.retry.max_retry_after_s,
            ),
            "raw_response_hook": ResponseCounter(metrics, PROVIDER_NAME),
            "user_agent": USER_AGENT,
        }
        if config.ca_bundle:
            kwargs["connection_verify"] = config.ca_bundle
        self.containerservice = ContainerServiceClient(credential, config.subscription_id, **kwargs)
        self.compute = ComputeManagementClient(credential, config.subscription_id, **kwargs)

    async def close(self) -> None:
        await self.containerservice.close()
        await self.compute.close()
