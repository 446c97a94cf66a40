"""Assemble a CustomResourceDefinition from a pydantic root model and a few naming facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from kaito.api.crdgen.schema import structural_schema

# Standard descriptions, as controller-gen writes them, so `kubectl explain` reads like any CRD.
_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values."
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer "
    "this from the endpoint the client submits requests to. In CamelCase."
)
_ENVELOPE = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class PrinterColumn:
    """One column of `kubectl get`."""

    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    description: str | None = None
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The additionalPrinterColumns entry."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class CRDDefinition:
    """Everything needed to render one single-version CRD."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    scope: Literal["Namespaced", "Cluster"]
    model: type[BaseModel]
    list_kind: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    status_subresource: bool = True
    file_name: str = field(default="")

    @property
    def name(self) -> str:
        """metadata.name of the CRD: ``<plural>.<group>``."""
        return f"{self.plural}.{self.group}"

    @property
    def output_file(self) -> str:
        """File name under manifests/crds, controller-gen style."""
        return self.file_name or f"{self.group}_{self.plural}.yaml"


def build_crd(definition: CRDDefinition) -> dict[str, Any]:
    """The CRD manifest as a dict."""
    schema = structural_schema(definition.model, skip=frozenset(_ENVELOPE))
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    for key in _ENVELOPE:
        properties.pop(key, None)
    root: dict[str, Any] = {
        "description": schema.get("description", ""),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DESCRIPTION},
            "kind": {"type": "string", "description": _KIND_DESCRIPTION},
            "metadata": {"type": "object"},
            **properties,
        },
    }
    required = [name for name in schema.get("required", []) if name not in _ENVELOPE]
    if required:
        root["required"] = required
    for key, value in schema.items():
        if key.startswith("x-kubernetes-"):
            root[key] = value

    names: dict[str, Any] = {
        "kind": definition.kind,
        "listKind": definition.list_kind,
        "plural": definition.plural,
        "singular": definition.singular,
    }
    if definition.short_names:
        names["shortNames"] = list(definition.short_names)
    if definition.categories:
        names["categories"] = list(definition.categories)

    version: dict[str, Any] = {
        "name": definition.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
    }
    if definition.printer_columns:
        version["additionalPrinterColumns"] = [c.to_dict() for c in definition.printer_columns]
    if definition.status_subresource:
        version["subresources"] = {"status": {}}

    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": definition.name,
            "annotations": {"kaito.sh/generated-by": "hack/gen_crds.py from kaito.api models"},
        },
        "spec": {
            "group": definition.group,
            "names": names,
            "scope": definition.scope,
            "versions": [version],
        },
    }
