"""ARM emulator for tests: an HTTPS server that serves the AKS AgentPools and VMSS endpoints the Azure
SDK calls, with real long-running operations, fault injection and kwok Node registration.

    async with ArmEmulator(nodes=KubeNodeRegistrar(kube_client)) as arm:
        config = AKSConfig(arm.settings.subscription_id, arm.settings.resource_group,
                           arm.settings.cluster_name, arm_endpoint=arm.url, ca_bundle=arm.ca_path,
                           polling_interval_s=0.05)
        provider = AKSCloudProvider(config, metrics, credential=StaticTokenCredential())
"""

from tests.support.armemulator.credential import FAKE_TOKEN, StaticTokenCredential
from tests.support.armemulator.faults import Fault, quota_exceeded, server_error, throttle
from tests.support.armemulator.nodes import KubeNodeRegistrar, NodeRegistrar, RecordingNodeRegistrar
from tests.support.armemulator.server import ArmEmulator, ArmError, EmulatorSettings, Pool

__all__ = [
    "FAKE_TOKEN",
    "ArmEmulator",
    "ArmError",
    "EmulatorSettings",
    "Fault",
    "KubeNodeRegistrar",
    "NodeRegistrar",
    "Pool",
    "RecordingNodeRegistrar",
    "StaticTokenCredential",
    "quota_exceeded",
    "server_error",
    "throttle",
]
