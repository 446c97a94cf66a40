"""The catalog, narrowed to what the builders need: the tuning Job gets each preset's LoRA targets."""

from __future__ import annotations

from kaito.catalog import load_catalog
from kaito.workspace.catalog_source import CatalogPresets
from kaito.workspace.tuning import TuningInputs, job_manifest

from .fixtures import tuning_workspace


def test_a_tuning_job_gets_the_catalogs_target_modules() -> None:
    presets = CatalogPresets(load_catalog())
    phi = presets.preset("phi-3-mini-4k-instruct")
    assert phi is not None
    # phi-3 fuses q, k and v into qkv_proj: PEFT has no default for it, and names like k_proj match nothing.
    assert phi.tuning_env == {"DEFAULT_TARGET_MODULES": "qkv_proj,o_proj,gate_up_proj,down_proj"}
    inputs = TuningInputs(phi, "reg.io", "tune1-tuning-config", "/mnt/results", ["n1"], 1, "h1")
    job = job_manifest(tuning_workspace(), inputs)
    trainer = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert env["DEFAULT_TARGET_MODULES"] == "qkv_proj,o_proj,gate_up_proj,down_proj"


def test_inference_only_presets_carry_no_tuning_env() -> None:
    llama = CatalogPresets(load_catalog()).preset("llama-3.1-8b-instruct")
    assert llama is not None and not llama.supports_tuning and llama.tuning_env == {}
