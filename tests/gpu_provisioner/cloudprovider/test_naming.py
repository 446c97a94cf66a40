"""Pool names, providerIDs, taints and request validation: the pure parts of the cloud layer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_provisioner.cloudprovider import InvalidRequestError, NodeRequest, Taint, TaintEffect
from gpu_provisioner.cloudprovider.naming import (
    format_azure_provider_id,
    is_valid_pool_name,
    parse_azure_provider_id,
    pool_name_for,
)


def test_kaito_machine_names_are_used_unchanged() -> None:
    assert pool_name_for("ws3943854b9") == "ws3943854b9"
    assert pool_name_for("a") == "a"
    assert pool_name_for("abcdefghijkl") == "abcdefghijkl"


@pytest.mark.parametrize("name", ["abcdefghijklm", "Ws123", "1abc", "ws-llama-7b", "machine.example", "-"])
def test_other_names_map_to_valid_distinct_pool_names(name: str) -> None:
    pool = pool_name_for(name)
    assert is_valid_pool_name(pool), pool
    assert pool != name
    assert pool_name_for(name) == pool  # deterministic: a retry lands on the same pool


@given(st.text(min_size=1, max_size=253))
def test_every_name_maps_to_a_valid_pool_name(name: str) -> None:
    assert is_valid_pool_name(pool_name_for(name))


def test_similar_long_names_do_not_collide() -> None:
    names = [f"workspace-falcon-7b-{i}" for i in range(200)]
    assert len({pool_name_for(n) for n in names}) == len(names)


def test_provider_id_round_trip_lowercases_resource_group() -> None:
    vm_id = (
        "/subscriptions/sub-1/resourceGroups/MC_RG_Cluster_eastus/providers/Microsoft.Compute/"
        "virtualMachineScaleSets/aks-ws3943854b9-10721027-vmss/virtualMachines/3"
    )
    pid = format_azure_provider_id(vm_id)
    assert pid == (
        "azure:///subscriptions/sub-1/resourceGroups/mc_rg_cluster_eastus/providers/Microsoft.Compute/"
        "virtualMachineScaleSets/aks-ws3943854b9-10721027-vmss/virtualMachines/3"
    )
    parsed = parse_azure_provider_id(pid)
    assert parsed is not None
    assert parsed.pool_name == "ws3943854b9"
    assert parsed.instance_id == "3"
    assert parse_azure_provider_id("kwok://node-1") is None


def test_taints_round_trip_in_aks_syntax() -> None:
    t = Taint(key="sku", value="gpu", effect=TaintEffect.NO_SCHEDULE)
    assert t.to_aks() == "sku=gpu:NoSchedule"
    assert Taint.parse("sku=gpu:NoSchedule") == t
    assert Taint.parse("dedicated:NoExecute") == Taint("dedicated", TaintEffect.NO_EXECUTE, "")
    with pytest.raises(InvalidRequestError):
        Taint.parse("sku=gpu:Sometimes")


def test_request_validation_is_final() -> None:
    with pytest.raises(InvalidRequestError, match="no requirement for instance type"):
        NodeRequest(name="ws1", instance_type="")
    with pytest.raises(InvalidRequestError, match="should be more than 0"):
        NodeRequest(name="ws1", instance_type="Standard_NC6s_v3", os_disk_gb=0)
    req = NodeRequest(name="ws1", instance_type="Standard_NC6s_v3", labels={"a": "b"})
    with pytest.raises(TypeError):
        req.labels["a"] = "c"  # type: ignore[index]
