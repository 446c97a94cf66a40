"""Each cloud provider recognises its own Nodes (the controllers ask it rather than reading its marks),
and the catalog is the one table of instance types."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_provisioner.cloudprovider.aks.agentpool import is_pool_node
from gpu_provisioner.cloudprovider.api import NodeRequest
from gpu_provisioner.cloudprovider.local.node import build_node, is_local_node, machine_of_node
from gpu_provisioner.instancetypes import catalog_instance_types

_LOOKUP = catalog_instance_types()


def _node(labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": labels, "annotations": annotations or {}}}


def test_a_local_node_names_its_machine() -> None:
    shape = _LOOKUP("standard_nc6s_v3")
    assert shape is not None
    node = build_node(NodeRequest(name="ws0123abcd", instance_type="Standard_NC6s_v3"), shape)
    assert is_local_node(node) and machine_of_node(node) == "ws0123abcd"
    # It looks like an AKS node, but without the provisioner label AKS does not claim it.
    assert not is_pool_node(node)


def test_an_aks_pool_node_is_claimed_by_aks_only() -> None:
    node = _node({"karpenter.sh/provisioner-name": "default", "kubernetes.azure.com/agentpool": "ws1"})
    assert is_pool_node(node)
    assert not is_local_node(node) and machine_of_node(node) is None
    assert is_pool_node(_node({"karpenter.sh/provisioner-name": "default", "agentpool": "ws1"}))


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"kubernetes.azure.com/agentpool": "system"},  # a pool of someone else's
        {"gpu-provisioner.kaito.sh/provider": "other"},
    ],
)
def test_nodes_that_are_not_ours(labels: dict[str, str]) -> None:
    node = _node(labels, {"gpu-provisioner.kaito.sh/machine": "ws1"})
    assert not is_local_node(node) and not is_pool_node(node) and machine_of_node(node) is None


def test_instance_shapes_come_from_the_catalog() -> None:
    a100 = _LOOKUP("Standard_ND96asr_v4")
    assert a100 is not None
    assert (a100.gpu_count, a100.gpu_memory_gib, a100.gpu_model) == (8, 320, "A100")
    assert a100.capacity(100)["nvidia.com/gpu"] == "8"
    assert _LOOKUP("p5.48xlarge") is not None  # catalog-only SKUs are known too
    assert _LOOKUP("Standard_Unknown") is None
