"""The committed CRDs are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kaito.api.crdgen import render_all

CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crds"


def test_committed_crds_match_models() -> None:
    generated = render_all()
    assert set(generated) == {"kaito.sh_workspaces.yaml", "karpenter.sh_machines.yaml"}
    for name, text in generated.items():
        committed = (CRD_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run `make manifests` (python hack/gen_crds.py)"


def _walk(node: dict[str, Any], path: str, found: list[str]) -> None:
    allowed_untyped = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "type" not in node and not allowed_untyped:
        found.append(f"{path}: no type")
    for bad in ("$ref", "allOf", "oneOf", "title", "const", "nullable"):
        if bad in node:
            found.append(f"{path}: {bad}")
    for key, child in (node.get("properties") or {}).items():
        if "description" not in child and key not in ("metadata",):
            found.append(f"{path}.{key}: no description")
        _walk(child, f"{path}.{key}", found)
    if isinstance(node.get("items"), dict):
        _walk(node["items"], f"{path}[]", found)
    if isinstance(node.get("additionalProperties"), dict):
        _walk(node["additionalProperties"], f"{path}{{}}", found)


def _schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load(render_all()[name])
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schemas_are_structural_and_described() -> None:
    for name in render_all():
        problems: list[str] = []
        _walk(_schema(name), "", problems)
        assert problems == [], name


def test_workspace_crd_shape() -> None:
    crd = yaml.safe_load(render_all()["kaito.sh_workspaces.yaml"])
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["wk", "wks"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"].upper() for c in version["additionalPrinterColumns"]] == [
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "JOBSTARTED",
        "WORKSPACEREADY",
        "STATE",
        "AGE",
    ]
    props = version["schema"]["openAPIV3Schema"]["properties"]
    assert "spec" not in props
    assert props["resource"]["properties"]["count"]["default"] == 1
    assert props["inference"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"] is True
    assert props["tuning"]["properties"]["input"]["properties"]["volumeSource"]["type"] == "object"
    assert props["tuning"]["properties"]["method"]["enum"] == ["lora", "qlora"]
    assert props["inference"]["properties"]["adapters"]["maxItems"] == 10
    rules = [r["rule"] for r in version["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]]
    assert "has(self.inference) != has(self.tuning)" in rules


def test_machine_crd_shape() -> None:
    crd = yaml.safe_load(render_all()["karpenter.sh_machines.yaml"])
    spec = crd["spec"]
    assert spec["scope"] == "Cluster"
    props = spec["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert set(props["spec"]["properties"]) == {
        "requirements",
        "resources",
        "taints",
        "startupTaints",
        "kubelet",
        "machineTemplateRef",
    }
    assert set(props["status"]["properties"]) == {
        "providerID",
        "nodeName",
        "capacity",
        "allocatable",
        "conditions",
    }
    storage = props["spec"]["properties"]["resources"]["properties"]["requests"]["additionalProperties"]
    assert storage["x-kubernetes-int-or-string"] is True
