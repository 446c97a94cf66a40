"""AKS configuration from environment variables and flags, and the AgentPool body sent for a Machine."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from gpu_provisioner.cloudprovider import InvalidRequestError, NodeRequest, Taint, TaintEffect
from gpu_provisioner.cloudprovider.aks import AKSConfig
from gpu_provisioner.cloudprovider.aks.agentpool import build_agent_pool

ENV = {
    "ARM_SUBSCRIPTION_ID": "sub-1",
    "ARM_RESOURCE_GROUP": "rg-1",
    "AZURE_CLUSTER_NAME": "cluster-1",
    "LOCATION": "westus2",
    "AZURE_NODE_RESOURCE_GROUP": "MC_rg-1",
}


def test_config_from_upstream_env_names() -> None:
    cfg = AKSConfig.from_env(ENV)
    assert (cfg.subscription_id, cfg.resource_group, cfg.cluster_name) == ("sub-1", "rg-1", "cluster-1")
    assert cfg.location == "westus2"
    assert cfg.node_resource_group == "MC_rg-1"
    assert cfg.arm_endpoint == "https://management.azure.com"
    assert cfg.credential_scope == "https://management.azure.com/.default"


def test_flags_override_env() -> None:
    parser = argparse.ArgumentParser()
    AKSConfig.add_arguments(parser)
    args = parser.parse_args(["--azure-cluster-name", "other", "--azure-polling-interval", "2.5"])
    cfg = AKSConfig.from_args(args, ENV)
    assert cfg.cluster_name == "other"
    assert cfg.polling_interval_s == 2.5
    assert cfg.resource_group == "rg-1"


def test_missing_settings_name_the_variables() -> None:
    with pytest.raises(InvalidRequestError, match="ARM_SUBSCRIPTION_ID"):
        AKSConfig.from_env({"ARM_RESOURCE_GROUP": "rg", "AZURE_CLUSTER_NAME": "c"})


def test_agent_pool_body() -> None:
    req = NodeRequest(
        name="ws0a1b2c3d4",
        instance_type="Standard_NC24ads_A100_v4",
        labels={"kaito.sh/workspace": "falcon", "karpenter.sh/provisioner-name": "default"},
        taints=(Taint("sku", TaintEffect.NO_SCHEDULE, "gpu"),),
        os_disk_gb=120,
        image_family="azurelinux",
    )
    body = build_agent_pool(req, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)).as_dict()
    # The SDK serialises exactly this; "type" must sit inside properties (the flattened-model pitfall).
    assert "type" not in body
    props = body["properties"]
    assert props["type"] == "VirtualMachineScaleSets"
    assert props["vmSize"] == "Standard_NC24ads_A100_v4"
    assert (props["count"], props["mode"], props["osType"], props["osSKU"]) == (
        1,
        "User",
        "Linux",
        "AzureLinux",
    )
    assert props["osDiskSizeGB"] == 120
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert props["nodeLabels"] == {
        "kaito.sh/workspace": "falcon",
        "karpenter.sh/provisioner-name": "default",
        "kaito.sh/machine-type": "gpu",
    }
    assert props["tags"] == {
        "kaito-managed-by": "gpu-provisioner",
        "kaito-machine": "ws0a1b2c3d4",
        "kaito-creation-timestamp": "2026-01-02T03-04-05Z",
    }
    json.dumps(body)


def test_unknown_image_family_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="image family"):
        build_agent_pool(NodeRequest(name="ws1", instance_type="Standard_NC6s_v3", image_family="Windows"))
