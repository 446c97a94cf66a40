"""KAITO's catalogs: preset models and GPU instance types, loaded from YAML under presets/catalog.

catalog = load_catalog()                      # once, at start-up; cached
model = catalog.model("phi-3-mini-4k-instruct")
sku = catalog.instance_type("Standard_NC6s_v3")
catalog.close_matches("Standard_NC6_v3")      # did-you-mean list
check_inference_fit(model, sku)               # [] when it fits on one node
"""

from kaito.catalog.catalog import Catalog
from kaito.catalog.fit import FitProblem, check_inference_fit, check_tuning_fit, suggest_instance_types
from kaito.catalog.loader import CATALOG_DIR_ENV, CatalogError, default_catalog_dir, load_catalog
from kaito.catalog.types import (
    CatalogDefaults,
    HuggingFaceSource,
    InferenceRequirements,
    InstanceType,
    ModelPreset,
    TuningMethodRequirements,
    TuningRequirements,
    duration_seconds,
)

__all__ = [
    "CATALOG_DIR_ENV",
    "Catalog",
    "CatalogDefaults",
    "CatalogError",
    "FitProblem",
    "HuggingFaceSource",
    "InferenceRequirements",
    "InstanceType",
    "ModelPreset",
    "TuningMethodRequirements",
    "TuningRequirements",
    "check_inference_fit",
    "check_tuning_fit",
    "default_catalog_dir",
    "duration_seconds",
    "load_catalog",
    "suggest_instance_types",
]
