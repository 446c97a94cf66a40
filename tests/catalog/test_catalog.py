"""The catalogs load, are consistent, and every model fits its own recommended instance types."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kaito.catalog import (
    Catalog,
    CatalogError,
    check_inference_fit,
    check_tuning_fit,
    default_catalog_dir,
    load_catalog,
    suggest_instance_types,
)

REQUIRED_MODELS = [
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "mistral-7b",
    "mistral-7b-instruct",
    "falcon-7b",
    "falcon-7b-instruct",
    "falcon-40b",
    "falcon-40b-instruct",
    "llama-3.1-8b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
    "deepseek-r1-distill-qwen-14b",
]


def test_required_models_present(catalog: Catalog) -> None:
    for name in REQUIRED_MODELS:
        model = catalog.model(name)
        assert model is not None, name
        assert model.hugging_face is not None and model.hugging_face.revision is not None
        assert len(model.hugging_face.revision) == 40


def test_instance_type_families(catalog: Catalog) -> None:
    for name in [
        "Standard_NC6s_v3",
        "Standard_NC24ads_A100_v4",
        "Standard_ND96isr_H200_v5",
        "p4d.24xlarge",
        "p5.48xlarge",
        "g5.xlarge",
        "g6.12xlarge",
    ]:
        assert catalog.instance_type(name) is not None, name
    nc6 = catalog.instance_type("standard_nc6S_V3")  # case-insensitive
    assert nc6 is not None and nc6.gpu_model == "V100" and nc6.gpu_memory == "16Gi"


@pytest.mark.parametrize("name", [*REQUIRED_MODELS, "deepseek-r1-distill-llama-8b", "llama-2-7b-chat"])
def test_model_fits_its_smallest_listed_instance_type(catalog: Catalog, name: str) -> None:
    model = catalog.model(name)
    assert model is not None
    listed = [catalog.instance_type(n) for n in model.inference.recommended_instance_types]
    assert all(t is not None for t in listed)
    smallest = min(listed, key=lambda t: (t.total_gpu_memory_bytes, t.gpu_count))  # type: ignore[union-attr]
    assert smallest is not None
    assert check_inference_fit(model, smallest) == []
    for instance in listed:
        assert instance is not None
        assert check_inference_fit(model, instance) == [], instance.name
    if model.tuning is not None:
        tuning_listed = [catalog.instance_type(n) for n in model.tuning.recommended_instance_types]
        for method in model.tuning.methods:
            smallest_t = min(tuning_listed, key=lambda t: (t.total_gpu_memory_bytes, t.gpu_count))  # type: ignore[union-attr]
            assert smallest_t is not None
            assert check_tuning_fit(model, smallest_t, method) == [], (method, smallest_t.name)


def test_total_memory_counted_per_node_once(catalog: Catalog) -> None:
    # Upstream v0.3 multiplied a node total by the GPU count again; 8x40Gi must be 320Gi, not 2560Gi.
    nd96 = catalog.instance_type("Standard_ND96asr_v4")
    assert nd96 is not None and nd96.total_gpu_memory_bytes == 320 * 2**30
    falcon = catalog.model("falcon-40b")
    nc24 = catalog.instance_type("Standard_NC24ads_A100_v4")
    assert falcon is not None and nc24 is not None
    # A model fits one node or not at all: resource.count adds replicas, never pools nodes.
    problems = check_inference_fit(falcon, nc24)
    assert {p.check for p in problems} == {"gpuCount", "totalGPUMemory"}
    assert all(p.field == "resource.instanceType" for p in problems)
    assert "on one node" in problems[0].message
    assert "multi-node inference is not supported" in problems[0].message


def test_compute_capability_is_parsed_and_checked(catalog: Catalog, tmp_path: Path) -> None:
    a10 = catalog.instance_type("Standard_NV36ads_A10_v5")
    assert a10 is not None and a10.compute_capability == (8, 6)
    # Every NVIDIA type has one: it chooses the inference runtime (kaito.workspace.presets.choose_runtime).
    # AMD's (accepted, never suggested: the preset images are CUDA builds) have none.
    missing = [t.name for t in catalog.instance_types if t.compute_capability is None]
    assert missing and all("Radeon" in t.gpu_model for t in catalog.instance_types if t.name in missing), (
        missing
    )
    directory = _copy_catalog(tmp_path)
    types = directory / "instance_types.yaml"
    types.write_text(
        types.read_text().replace('cudaComputeCapability: "7.0"', "cudaComputeCapability: sm70", 1)
    )
    with pytest.raises(CatalogError, match="'sm70' is not a CUDA compute capability"):
        load_catalog(directory, reload=True)


@pytest.mark.parametrize(
    ("anchor", "field"),
    [
        ("    runtime: vllm\n", "    downloadAtRuntime: true\n"),
        ("      readinessTimeout: 45m\n", "      supportsDistributed: true\n"),
    ],
)
def test_removed_catalog_fields_are_refused(tmp_path: Path, anchor: str, field: str) -> None:
    # Weights are baked into the preset images and every model runs on one node: these did nothing.
    directory = _copy_catalog(tmp_path)
    models = directory / "models.yaml"
    models.write_text(models.read_text().replace(anchor, anchor + field, 1))
    with pytest.raises(CatalogError, match=field.split(":")[0].strip()):
        load_catalog(directory, reload=True)


def test_tuning_method_support(catalog: Catalog) -> None:
    falcon = catalog.model("falcon-40b")
    a100 = catalog.instance_type("Standard_NC24ads_A100_v4")
    assert falcon is not None and a100 is not None
    [problem] = check_tuning_fit(falcon, a100, "lora")
    assert problem.field == "tuning.method" and "qlora" in problem.message


def test_every_tunable_model_names_its_lora_targets(catalog: Catalog, tmp_path: Path) -> None:
    tunable = [m for m in catalog.models if m.tuning is not None]
    assert tunable and all(m.tuning and m.tuning.target_modules for m in tunable)
    directory = _copy_catalog(tmp_path)
    models = directory / "models.yaml"
    text = models.read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith("targetModules:"))
    models.write_text(text.replace(line + "\n", "", 1))
    with pytest.raises(CatalogError, match="targetModules"):
        load_catalog(directory, reload=True)
    models.write_text(text.replace("[q_proj,", "[q proj,", 1))
    with pytest.raises(CatalogError, match="targetModules"):
        load_catalog(directory, reload=True)


def test_close_matches_and_suggestions(catalog: Catalog) -> None:
    assert catalog.close_matches("Standard_NC6_v3")[0] == "Standard_NC6s_v3"
    assert "Standard_NC24ads_A100_v4" in catalog.close_matches("a100")
    phi = catalog.model("phi-3-medium-4k-instruct")
    assert phi is not None
    suggestions = suggest_instance_types(catalog, phi, cloud="azure")
    assert suggestions and suggestions[0] == "Standard_NC24ads_A100_v4"


def _copy_catalog(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), target)
    return target


def test_malformed_catalog_names_file_and_field(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    models = directory / "models.yaml"
    models.write_text(models.read_text().replace("gpuCount: 2", "gpuCount: two", 1))
    with pytest.raises(CatalogError) as info:
        load_catalog(directory, reload=True)
    message = str(info.value)
    assert "models.yaml" in message and "(falcon-40b)" in message and "gpuCount" in message


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    types = directory / "instance_types.yaml"
    types.write_text(types.read_text().replace("gpuModel: V100, gpuMemory", "gpuModel: V100, gpuMem", 1))
    with pytest.raises(CatalogError) as info:
        load_catalog(directory, reload=True)
    assert "instance_types.yaml" in str(info.value) and "gpuMem" in str(info.value)


def test_disk_must_hold_the_weights(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    models = directory / "models.yaml"
    models.write_text(models.read_text().replace("weightsSize: 78Gi", "weightsSize: 450Gi", 1))
    with pytest.raises(
        CatalogError, match=r"inference.diskStorage 400Gi cannot hold the weights \(weightsSize 450Gi\)"
    ):
        load_catalog(directory, reload=True)


def test_unknown_recommended_instance_type(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    models = directory / "models.yaml"
    models.write_text(models.read_text().replace("[Standard_NC6s_v3,", "[Standard_NC7s_v3,", 1))
    with pytest.raises(
        CatalogError, match="recommendedInstanceTypes: unknown instance type 'Standard_NC7s_v3'"
    ):
        load_catalog(directory, reload=True)


def test_missing_catalog_dir(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope", reload=True)


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _copy_catalog(tmp_path)
    monkeypatch.setenv("KAITO_CATALOG_DIR", str(directory))
    assert default_catalog_dir() == directory
    assert load_catalog(reload=True).model("phi-4") is not None


# Upstream KAITO's Azure SKU table (pkg/sku/azure_sku_handler.go), its current list and the sizes it
# dropped later (which manifests in use may still name).
UPSTREAM_AZURE_SKUS = [
    "Standard_NC6s_v3",
    "Standard_NC12s_v3",
    "Standard_NC24s_v3",
    "Standard_NC24rs_v3",
    "Standard_NC4as_T4_v3",
    "Standard_NC8as_T4_v3",
    "Standard_NC16as_T4_v3",
    "Standard_NC64as_T4_v3",
    "Standard_NV36ads_A10_v5",
    "Standard_NV72ads_A10_v5",
    "Standard_NC24ads_A100_v4",
    "Standard_NC48ads_A100_v4",
    "Standard_NC96ads_A100_v4",
    "Standard_ND96asr_A100_v4",
    "Standard_ND96amsr_A100_v4",
    "Standard_NC40ads_H100_v5",
    "Standard_NC80adis_H100_v5",
    "Standard_ND96isr_H100_v5",
    "Standard_NCC40ads_H100_v5",
    "Standard_ND96isr_H200_v5",
    "Standard_NG32ads_V620_v1",
    "Standard_NG32adms_V620_v1",
    "Standard_NV6",
    "Standard_NV12",
    "Standard_NV24",
    "Standard_NV12s_v3",
    "Standard_NV24s_v3",
    "Standard_NV48s_v3",
    "Standard_NV32as_v4",
]


def test_catalog_covers_upstream_azure_skus(catalog: Catalog) -> None:
    missing = [name for name in UPSTREAM_AZURE_SKUS if catalog.instance_type(name) is None]
    assert missing == []


def test_non_cuda_sizes_are_never_suggested(catalog: Catalog) -> None:
    for model in catalog.models:
        for name in suggest_instance_types(catalog, model, cloud="azure", limit=100):
            instance = catalog.instance_type(name)
            assert instance is not None and instance.cuda_compute_capability is not None, name
