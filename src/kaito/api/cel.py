"""Helpers to attach CEL validation rules (``x-kubernetes-validations``) to pydantic models.

Rules are written next to the fields they guard and travel into the CRD through the model's JSON
schema, so the pydantic model stays the one source of truth for what the apiserver enforces.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import WithJsonSchema

VALIDATIONS_KEY = "x-kubernetes-validations"

Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]

# DNS-1123 label: what Kubernetes accepts as a container or Service name.
DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def rule(
    expression: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: Reason | None = None,
) -> dict[str, Any]:
    """One CEL rule. ``field_path`` (relative, e.g. ``.image``) makes the error name that field."""
    result: dict[str, Any] = {"rule": expression, "message": message}
    if field_path is not None:
        result["fieldPath"] = field_path
    if reason is not None:
        result["reason"] = reason
    return result


def immutable(field: str, path: str) -> dict[str, Any]:
    """A transition rule: the optional field ``field`` may be neither changed, added nor removed.

    ``path`` is the user-facing name used in the message (e.g. ``resource.instanceType``).
    """
    return rule(
        f"has(self.{field}) == has(oldSelf.{field}) && "
        f"(!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"{path} is immutable: delete and recreate the Workspace to change it",
        field_path=f".{field}",
        reason="FieldValueForbidden",
    )


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    """A ``json_schema_extra`` mapping carrying the rules."""
    return {VALIDATIONS_KEY: list(rules)}


PRESERVE_UNKNOWN_OBJECT = WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
"""Schema for an embedded Kubernetes type kept verbatim (PodTemplateSpec, VolumeSource)."""
