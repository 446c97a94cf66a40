"""The pydantic models read apiserver JSON and write it back unchanged."""

from __future__ import annotations

from kaito.api import (
    LABEL_INSTANCE_TYPE,
    Machine,
    Workspace,
)
from tests.api.samples import inference, seed


def test_seed_round_trips() -> None:
    raw = seed()
    ws = Workspace.model_validate(raw)
    assert ws.tuning is not None
    assert ws.tuning.method == "qlora"
    assert ws.tuning.input.urls and ws.tuning.input.urls[0].startswith("https://huggingface.co/")
    assert ws.resource.count == 1
    out = ws.to_dict()
    assert out["resource"]["labelSelector"] == {"matchLabels": {"app": "tuning-phi-3"}}
    assert out["tuning"]["output"]["imagePushSecret"] == "ACR_REGISTRY_SECRET_HERE"
    assert "inference" not in out
    assert Workspace.model_validate(out) == ws


def test_reads_apiserver_json_with_status_and_unknown_metadata() -> None:
    raw = inference()
    raw["metadata"].update(
        {
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2026-11-23T10:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "finalizers": ["workspace.finalizer.kaito.sh"],
        }
    )
    raw["inference"]["template"] = {"spec": {"containers": [{"name": "c", "image": "x", "unknownField": 1}]}}
    raw["status"] = {
        "workerNodes": ["n1"],
        "state": "Ready",
        "conditions": [
            {
                "type": "ResourceReady",
                "status": "True",
                "reason": "ok",
                "message": "",
                "lastTransitionTime": "2026-11-23T10:01:00Z",
            }
        ],
    }
    ws = Workspace.model_validate(raw)
    assert ws.metadata.resource_version == "42"
    assert ws.status is not None and ws.status.worker_nodes == ["n1"]
    out = ws.to_dict()
    assert out["metadata"]["managedFields"] == [{"manager": "kubectl"}]
    assert out["inference"]["template"]["spec"]["containers"][0]["unknownField"] == 1
    assert out["status"]["conditions"][0]["lastTransitionTime"] == "2026-11-23T10:01:00Z"
    assert out["metadata"]["creationTimestamp"] == "2026-11-23T10:00:00Z"


def test_snake_case_construction() -> None:
    ws = Workspace.model_validate(
        {
            "metadata": {"name": "w"},
            "resource": {"instance_type": "Standard_NC6s_v3", "label_selector": {"match_labels": {"a": "b"}}},
            "inference": {"preset": {"name": "falcon-7b"}},
        }
    )
    assert ws.to_dict()["resource"] == {
        "count": 1,
        "instanceType": "Standard_NC6s_v3",
        "labelSelector": {"matchLabels": {"a": "b"}},
    }
    assert ws.preset is not None and ws.preset.name == "falcon-7b"


def test_machine_round_trip_keeps_karpenter_names() -> None:
    raw = {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Machine",
        "metadata": {"name": "ws1a2b3c4d5", "labels": {"kaito.sh/workspace": "w"}},
        "spec": {
            "requirements": [
                {"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": ["Standard_NC6s_v3"]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            ],
            "resources": {"requests": {"storage": "120Gi", "cpu": 2}},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "kubelet": {"clusterDNS": ["10.0.0.10"], "cpuCFSQuota": True, "imageGCHighThresholdPercent": 85},
            "machineTemplateRef": {"name": "default"},
        },
        "status": {
            "providerID": "azure:///subscriptions/x/vm/0",
            "nodeName": "aks-ws-0",
            "capacity": {"nvidia.com/gpu": "1", "memory": "112Gi"},
            "conditions": [{"type": "Ready", "status": "True", "severity": ""}],
        },
    }
    machine = Machine.model_validate(raw)
    assert machine.instance_type == "Standard_NC6s_v3"
    assert machine.is_ready
    out = machine.to_dict()
    assert out["status"]["providerID"] == raw["status"]["providerID"]  # type: ignore[index]
    assert out["spec"]["kubelet"] == {
        "clusterDNS": ["10.0.0.10"],
        "cpuCFSQuota": True,
        "imageGCHighThresholdPercent": 85,
    }
    assert out["spec"]["resources"]["requests"] == {"storage": "120Gi", "cpu": "2"}
