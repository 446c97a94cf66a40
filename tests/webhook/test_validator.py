"""Catalog-aware validation, without a cluster (the ConfigMap reader is a fake)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kaito.catalog import Catalog
from kaito.webhook.validator import WorkspaceValidator
from tests.api.samples import inference, seed
from tests.webhook.test_tuning_config import QLORA

CONFIG_MAPS: dict[tuple[str, str], dict[str, str]] = {
    ("default", "inference-ok"): {"inference_config.yaml": "vllm:\n  max-model-len: 4096\n"},
    ("default", "inference-wrong-key"): {"config.yaml": "a: 1"},
    ("default", "good"): {"training_config.yaml": QLORA},
    ("default", "lora-only"): {
        "training_config.yaml": QLORA.replace("load_in_4bit: true", "load_in_4bit: false")
    },
}


async def _reader(namespace: str, name: str) -> Mapping[str, str] | None:
    return CONFIG_MAPS.get((namespace, name))


@pytest.fixture
def validator(catalog: Catalog) -> WorkspaceValidator:
    return WorkspaceValidator(catalog, _reader)


def _ns(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["namespace"] = "default"
    return obj


async def test_seed_and_inference_are_admitted(validator: WorkspaceValidator) -> None:
    for obj in (seed(), inference()):
        verdict = await validator.validate(_ns(obj))
        assert verdict.allowed, verdict.errors


async def _errors(validator: WorkspaceValidator, obj: dict[str, Any]) -> str:
    verdict = await validator.validate(_ns(obj))
    assert not verdict.allowed
    return "; ".join(verdict.errors)


async def test_unknown_preset(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["inference"]["preset"]["name"] = "phi-3-mini-4k-instruc"
    message = await _errors(validator, obj)
    assert message.startswith("inference.preset.name: unknown preset 'phi-3-mini-4k-instruc'")
    assert "did you mean: phi-3-mini-4k-instruct" in message


async def test_unknown_instance_type_lists_close_matches(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["resource"]["instanceType"] = "Standard_NC6_v3"
    message = await _errors(validator, obj)
    assert (
        "resource.instanceType: unknown instance type 'Standard_NC6_v3' (did you mean: Standard_NC6s_v3"
        in message
    )


async def test_insufficient_memory(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["inference"]["preset"]["name"] = "phi-4"
    message = await _errors(validator, obj)
    assert "resource.instanceType: insufficient per-GPU memory: phi-4 needs 32Gi per GPU" in message
    assert "instance types that fit: " in message


async def test_a_model_too_big_for_one_node_is_refused_whatever_the_count(
    validator: WorkspaceValidator,
) -> None:
    # Two 1-GPU nodes would be two replicas of falcon-40b, each needing 2 GPUs: multi-node inference is gone.
    obj = inference()
    obj["inference"]["preset"]["name"] = "falcon-40b"
    obj["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    obj["resource"]["count"] = 2
    message = await _errors(validator, obj)
    assert "insufficient number of GPUs" in message and "insufficient total GPU memory" in message
    assert "multi-node inference is not supported" in message
    assert "choose a larger instance type" in message
    assert "instance types that fit: Standard_NC48ads_A100_v4" in message


async def test_bypass_annotation_turns_fit_errors_into_warnings(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["inference"]["preset"]["name"] = "phi-4"
    obj["metadata"]["annotations"] = {"kaito.sh/bypass-resource-checks": "true"}
    verdict = await validator.validate(_ns(obj))
    assert verdict.allowed and verdict.warnings


async def test_tuning_method_unsupported(validator: WorkspaceValidator) -> None:
    obj = seed()
    obj["tuning"]["preset"]["name"] = "falcon-7b-instruct"
    message = await _errors(validator, obj)
    assert "tuning.method: preset 'falcon-7b-instruct' does not support 'qlora' tuning" in message


async def test_private_preset_needs_image(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["inference"]["preset"]["name"] = "llama-2-7b-chat"
    message = await _errors(validator, obj)
    assert "inference.preset.presetOptions.image: preset 'llama-2-7b-chat' is private" in message
    obj["inference"]["preset"]["accessMode"] = "private"
    obj["inference"]["preset"]["presetOptions"] = {"image": "myacr.azurecr.io/llama-2-7b-chat:0.0.3"}
    assert (await validator.validate(_ns(obj))).allowed


async def test_ssrf_url(validator: WorkspaceValidator) -> None:
    obj = seed()
    obj["tuning"]["input"]["urls"] = ["http://169.254.169.254/latest/meta-data/"]
    message = await _errors(validator, obj)
    assert message.startswith("tuning.input.urls[0]: ") and "cloud metadata" in message


async def test_tuning_config_map(validator: WorkspaceValidator) -> None:
    obj = seed()
    obj["tuning"]["config"] = "good"
    assert (await validator.validate(_ns(obj))).allowed
    obj["tuning"]["config"] = "missing"
    assert "tuning.config: ConfigMap 'missing' not found in namespace 'default'" in await _errors(
        validator, obj
    )
    obj["tuning"]["config"] = "lora-only"
    assert "qlora needs a quantised model" in await _errors(validator, obj)


async def test_metadata_only_update_and_deletion_pass(validator: WorkspaceValidator) -> None:
    old = inference()
    old["inference"]["preset"]["name"] = "no-longer-in-catalog"
    new = inference()
    new["inference"]["preset"]["name"] = "no-longer-in-catalog"
    new["metadata"]["finalizers"] = ["workspace.finalizer.kaito.sh"]
    assert (await validator.validate(_ns(new), old)).allowed
    deleting = inference()
    deleting["inference"]["preset"]["name"] = "nope"
    deleting["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    assert (await validator.validate(_ns(deleting))).allowed


async def test_bad_workspace_name(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["metadata"]["name"] = "1-starts-with-digit"
    assert "metadata.name" in await _errors(validator, obj)


async def test_inference_config_map(validator: WorkspaceValidator) -> None:
    obj = inference()
    obj["inference"]["config"] = "inference-ok"
    assert (await validator.validate(_ns(obj))).allowed
    obj["inference"]["config"] = "inference-wrong-key"
    errors = await _errors(validator, obj)
    # Named what is missing; the ConfigMap's own keys are not echoed to a caller who may not read it.
    assert "must have the key inference_config.yaml" in errors and "config.yaml)" not in errors
    obj["inference"]["config"] = "absent"
    assert "inference.config: ConfigMap 'absent' not found" in await _errors(validator, obj)


async def test_update_does_not_rejudge_immutable_placement(validator: WorkspaceValidator) -> None:
    # Admitted when the catalog still had the preset; a later edit of a mutable field must pass.
    old = _ns(inference())
    old["inference"]["preset"]["name"] = "retired-model"
    new = _ns(inference())
    new["inference"]["preset"]["name"] = "retired-model"
    new["inference"]["config"] = "inference-ok"
    assert (await validator.validate(new, old)).allowed
    new["inference"]["config"] = "absent"
    assert not (await validator.validate(new, old)).allowed
