"""Prometheus metrics of the cloud layer and the wrapper that records them for any provider."""

from gpu_provisioner.cloudprovider.metrics.instrumented import InstrumentedCloudProvider
from gpu_provisioner.cloudprovider.metrics.registry import CloudProviderMetrics

__all__ = ["CloudProviderMetrics", "InstrumentedCloudProvider"]
