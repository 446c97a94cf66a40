"""CRD generation from the pydantic API models."""

from kaito.api.crdgen.crd import CRDDefinition, PrinterColumn, build_crd
from kaito.api.crdgen.render import ALL_CRDS, render_all, render_crd, write_crds
from kaito.api.crdgen.schema import SchemaError, structural_schema

__all__ = [
    "ALL_CRDS",
    "CRDDefinition",
    "PrinterColumn",
    "SchemaError",
    "build_crd",
    "render_all",
    "render_crd",
    "structural_schema",
    "write_crds",
]
