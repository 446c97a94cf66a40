"""The generated CRDs against the real apiserver: the seed applies, columns and explain work, and
CEL rejects invalid and immutable-field changes with messages that name the field."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from e2e.cluster import LocalCluster
from tests.api.cluster_support import apply, install_crds
from tests.api.samples import SEED_YAML, inference, seed

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def crd_ns(cluster: LocalCluster) -> Iterator[str]:
    install_crds(cluster)
    name = f"t-api-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_seed_applies_unchanged_and_columns_show(cluster: LocalCluster, crd_ns: str) -> None:
    code, out = apply(cluster, crd_ns, SEED_YAML)
    assert code == 0, out
    header = cluster.kubectl("get", "workspace", "-n", crd_ns).stdout.splitlines()[0].split()
    assert header == [
        "NAME",
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "JOBSTARTED",
        "WORKSPACEREADY",
        "STATE",
        "AGE",
    ]
    row = cluster.kubectl("get", "wk", "workspace-tuning-phi-3", "-n", crd_ns).stdout.splitlines()[1]
    assert "Standard_NC6s_v3" in row
    stored = cluster.get_json("wks", "workspace-tuning-phi-3", "-n", crd_ns)
    assert stored["resource"]["count"] == 1  # defaulted by the schema
    assert stored["tuning"]["preset"]["accessMode"] == "public"

    # The condition columns read status, which only the status subresource writes.
    status = {
        "status": {
            "state": "Running",
            "workerNodes": ["node-1"],
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "reason": "Ok",
                    "message": "",
                    "lastTransitionTime": "2026-11-23T10:00:00Z",
                }
                for t in ("ResourceReady", "JobStarted", "WorkspaceReady")
            ],
        }
    }
    cluster.kubectl(
        "patch",
        "wk",
        "workspace-tuning-phi-3",
        "-n",
        crd_ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    header_line, row_line = cluster.kubectl(
        "get", "wk", "workspace-tuning-phi-3", "-n", crd_ns
    ).stdout.splitlines()[:2]
    cells = _columns(header_line, row_line)
    assert cells["INSTANCE"] == "Standard_NC6s_v3"
    assert cells["RESOURCEREADY"] == "True" and cells["INFERENCEREADY"] == ""
    assert cells["JOBSTARTED"] == "True" and cells["WORKSPACEREADY"] == "True" and cells["STATE"] == "Running"


def _columns(header: str, row: str) -> dict[str, str]:
    starts = [header.index(name) for name in header.split()]
    ends = [*starts[1:], None]
    return {name: row[a:b].strip() for name, a, b in zip(header.split(), starts, ends, strict=True)}


def test_explain_prints_descriptions(cluster: LocalCluster, crd_ns: str) -> None:
    out = cluster.kubectl("explain", "workspace.tuning.input").stdout
    assert "exactly one of urls, image or volumeSource" in out
    assert "urls" in out and "volumeSource" in out
    out = cluster.kubectl("explain", "workspace.resource.instanceType").stdout
    assert "instance type" in out.lower()
    out = cluster.kubectl("explain", "machine.spec.requirements").stdout
    assert "instance-type" in out


def test_machine_round_trips(cluster: LocalCluster, crd_ns: str) -> None:
    machine = {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Machine",
        "metadata": {"name": f"ws{uuid.uuid4().hex[:9]}", "labels": {"kaito.sh/workspace": "w"}},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC6s_v3"]}
            ],
            "resources": {"requests": {"storage": "120Gi"}},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "machineTemplateRef": {"name": "default"},
        },
    }
    code, out = apply(cluster, crd_ns, machine)
    assert code == 0, out
    header = cluster.kubectl("get", "machines").stdout.splitlines()[0].split()
    assert header == ["NAME", "TYPE", "ZONE", "NODE", "READY", "AGE"]
    cluster.kubectl("delete", "machine", machine["metadata"]["name"])  # type: ignore[index]


def _rename(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["name"] = f"bad-{uuid.uuid4().hex[:8]}"
    return obj


def _tuning(mutate: Callable[[dict[str, Any]], None]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        obj = seed()
        mutate(obj)
        return _rename(obj)

    return build


def _inference(mutate: Callable[[dict[str, Any]], None]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        obj = inference()
        mutate(obj)
        return _rename(obj)

    return build


def _adapter(name: str = "a1", **extra: Any) -> dict[str, Any]:
    return {"source": {"name": name, "image": f"acr.io/{name}:1"}, **extra}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = obj
        for part in parents:
            node = node.setdefault(part, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value

    return mutate


_DELETE = object()
_TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}

# (id, builder, text the error must contain: the field path, and part of the message)
INVALID: list[tuple[str, Callable[[], dict[str, Any]], list[str]]] = [
    (
        "neither-inference-nor-tuning",
        _tuning(_set("tuning", _DELETE)),
        ["inference", "exactly one of inference or tuning"],
    ),
    (
        "both-inference-and-tuning",
        _tuning(_set("inference", {"preset": {"name": "phi-4"}})),
        ["exactly one of inference or tuning"],
    ),
    (
        "preset-and-template",
        _inference(_set("inference.template", _TEMPLATE)),
        ["inference.preset", "exactly one of inference.preset or inference.template"],
    ),
    (
        "neither-preset-nor-template",
        _inference(_set("inference", {"config": "x"})),
        ["inference.preset", "exactly one"],
    ),
    ("tuning-count-2", _tuning(_set("resource.count", 2)), ["resource.count", "must be 1 for tuning"]),
    ("count-zero", _inference(_set("resource.count", 0)), ["resource.count", "greater than or equal to 1"]),
    (
        "missing-label-selector",
        _inference(_set("resource.labelSelector", _DELETE)),
        ["resource.labelSelector", "Required"],
    ),
    (
        "empty-match-labels",
        _inference(_set("resource.labelSelector", {"matchLabels": {}})),
        ["resource.labelSelector", "at least one matchLabels entry or matchExpressions requirement"],
    ),
    (
        "bad-access-mode",
        _inference(_set("inference.preset.accessMode", "secret")),
        ["inference.preset.accessMode", "Unsupported value"],
    ),
    (
        "private-without-image",
        _inference(_set("inference.preset.accessMode", "private")),
        ["inference.preset.presetOptions.image", "required when accessMode is private"],
    ),
    ("bad-tuning-method", _tuning(_set("tuning.method", "full")), ["tuning.method", "Unsupported value"]),
    ("missing-tuning-method", _tuning(_set("tuning.method", _DELETE)), ["tuning.method", "Required"]),
    ("missing-tuning-input", _tuning(_set("tuning.input", _DELETE)), ["tuning.input", "Required"]),
    ("missing-tuning-output", _tuning(_set("tuning.output", _DELETE)), ["tuning.output", "Required"]),
    (
        "input-urls-and-image",
        _tuning(_set("tuning.input.image", "acr.io/data:1")),
        ["tuning.input.urls", "exactly one of urls, image or volumeSource"],
    ),
    (
        "input-empty",
        _tuning(_set("tuning.input", {"name": "data"})),
        ["tuning.input.urls", "exactly one of urls, image or volumeSource"],
    ),
    ("input-urls-empty-list", _tuning(_set("tuning.input.urls", [])), ["tuning.input.urls"]),
    (
        "output-image-and-volume",
        _tuning(_set("tuning.output.volumeSource", {"emptyDir": {}})),
        ["tuning.output.image", "exactly one of image or volumeSource"],
    ),
    (
        "output-image-without-push-secret",
        _tuning(_set("tuning.output.imagePushSecret", _DELETE)),
        ["tuning.output.imagePushSecret", "imagePushSecret is required"],
    ),
    (
        "output-empty",
        _tuning(_set("tuning.output", {"imagePushSecret": "s"})),
        ["tuning.output.image", "exactly one of image or volumeSource"],
    ),
    (
        "eleven-adapters",
        _inference(_set("inference.adapters", [_adapter(f"a{i}") for i in range(11)])),
        ["inference.adapters", "at most 10"],
    ),
    (
        "duplicate-adapter-names",
        _inference(_set("inference.adapters", [_adapter("a1"), _adapter("a1")])),
        ["inference.adapters", "must be unique"],
    ),
    (
        "adapter-name-not-dns1123",
        _inference(_set("inference.adapters", [_adapter("Bad_Name")])),
        ["inference.adapters[0].source.name", "should match"],
    ),
    (
        "adapter-without-name",
        _inference(_set("inference.adapters", [{"source": {"image": "acr.io/a:1"}}])),
        ["inference.adapters[0].source.name", "source.name is required"],
    ),
    (
        "adapter-without-image",
        _inference(_set("inference.adapters", [{"source": {"name": "a1", "urls": ["https://x.io/a"]}}])),
        ["inference.adapters[0].source.image", "source.image is required"],
    ),
    (
        "adapter-strength-above-one",
        _inference(_set("inference.adapters", [_adapter(strength="1.5")])),
        ["inference.adapters[0].strength", "should match"],
    ),
    (
        "adapters-with-template",
        _inference(_set("inference", {"template": _TEMPLATE, "adapters": [_adapter()]})),
        ["inference.adapters", "need inference.preset"],
    ),
    (
        "empty-instance-type",
        _inference(_set("resource.instanceType", "")),
        ["resource.instanceType", "at least 1 chars"],
    ),
    (
        "empty-preset-name",
        _inference(_set("inference.preset.name", "")),
        ["inference.preset.name", "at least 1 chars"],
    ),
    (
        "input-name-not-dns1123",
        _tuning(_set("tuning.input.name", "UPPER")),
        ["tuning.input.name", "should match"],
    ),
    (
        "output-image-without-tag",
        _tuning(_set("tuning.output.image", "myacr.azurecr.io/adapter")),
        ["tuning.output.image", "full reference <registry>/<repository>:<tag>"],
    ),
    (
        "adapter-image-without-registry",
        _inference(_set("inference.adapters", [{"source": {"name": "a1", "image": "adapter:1"}}])),
        ["inference.adapters[0].source.image", "full reference"],
    ),
    ("spec-wrapper-is-unknown", _inference(_set("spec", {"resource": {}})), ['unknown field "spec"']),
    (
        "bad-match-expression-operator",
        _inference(_set("resource.labelSelector.matchExpressions", [{"key": "a", "operator": "Is"}])),
        ["resource.labelSelector.matchExpressions[0].operator", "Unsupported value"],
    ),
]


def test_at_least_25_invalid_cases() -> None:
    assert len(INVALID) >= 25


@pytest.mark.parametrize(("case", "build", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_workspace_is_rejected(
    cluster: LocalCluster, crd_ns: str, case: str, build: Callable[[], dict[str, Any]], expected: list[str]
) -> None:
    code, out = apply(cluster, crd_ns, build())
    assert code != 0, f"{case} was accepted:\n{out}"
    for text in expected:
        assert text in out, f"{case}: {text!r} not in:\n{out}"


def _created(cluster: LocalCluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["name"] = f"upd-{uuid.uuid4().hex[:8]}"
    code, out = apply(cluster, namespace, obj)
    assert code == 0, out
    return obj


def test_valid_updates_pass(cluster: LocalCluster, crd_ns: str) -> None:
    obj = _created(cluster, crd_ns, inference())
    obj["inference"]["config"] = "my-inference-config"
    obj["inference"]["adapters"] = [_adapter("a1", strength="0.5")]
    obj["resource"]["preferredNodes"] = ["node-a"]
    obj["metadata"]["labels"] = {"team": "x"}
    code, out = apply(cluster, crd_ns, obj)
    assert code == 0, out

    templ = inference()
    templ["inference"] = {"template": _TEMPLATE}
    templ = _created(cluster, crd_ns, templ)
    templ["inference"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    templ["inference"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    templ["inference"]["template"]["spec"]["tolerations"] = [{"key": "sku", "operator": "Exists"}]
    code, out = apply(cluster, crd_ns, templ)
    assert code == 0, out
    stored = cluster.get_json("workspace", templ["metadata"]["name"], "-n", crd_ns)
    # A full PodTemplateSpec is kept verbatim (x-kubernetes-preserve-unknown-fields).
    assert stored["inference"]["template"]["spec"]["tolerations"] == [{"key": "sku", "operator": "Exists"}]
    assert stored["inference"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu": 1
    }

    tuning = _created(cluster, crd_ns, seed())
    tuning["tuning"]["config"] = "my-training-config"
    code, out = apply(cluster, crd_ns, tuning)
    assert code == 0, out


IMMUTABLE: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], object], str]] = [
    (
        "instanceType",
        inference,
        _set("resource.instanceType", "Standard_NC24ads_A100_v4"),
        "resource.instanceType is immutable",
    ),
    ("count", inference, _set("resource.count", 2), "resource.count is immutable"),
    (
        "labelSelector",
        inference,
        _set("resource.labelSelector", {"matchLabels": {"apps": "other"}}),
        "resource.labelSelector is immutable",
    ),
    ("inference.preset", inference, _set("inference.preset.name", "phi-4"), "inference.preset is immutable"),
    (
        "tuning.preset",
        seed,
        _set("tuning.preset.name", "phi-3-mini-4k-instruct"),
        "tuning.preset is immutable",
    ),
    ("tuning.method", seed, _set("tuning.method", "lora"), "tuning.method is immutable"),
    (
        "tuning.input",
        seed,
        _set("tuning.input.urls", ["https://example.com/other.parquet"]),
        "tuning.input is immutable",
    ),
    ("tuning.output", seed, _set("tuning.output.image", "acr.io/other:1"), "tuning.output is immutable"),
    (
        "switch-to-tuning",
        inference,
        lambda o: (o.pop("inference"), o.update({"tuning": seed()["tuning"]})),
        "cannot switch between inference and tuning",
    ),
    (
        "add-template",
        lambda: {**inference(), "inference": {"template": _TEMPLATE}},
        _set("inference", {"preset": {"name": "phi-4"}}),
        "inference.preset is immutable",
    ),
]


@pytest.mark.parametrize(("case", "base", "change", "expected"), IMMUTABLE, ids=[c[0] for c in IMMUTABLE])
def test_immutable_field_update_fails(
    cluster: LocalCluster,
    crd_ns: str,
    case: str,
    base: Callable[[], dict[str, Any]],
    change: Callable[[dict[str, Any]], object],
    expected: str,
) -> None:
    obj = _created(cluster, crd_ns, base())
    change(obj)
    code, out = apply(cluster, crd_ns, obj)
    assert code != 0, f"{case} update was accepted:\n{out}"
    assert expected in out, out
