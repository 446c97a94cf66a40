"""AdmissionReview v1: the request the apiserver sends and the response it expects."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ADMISSION_API_VERSION = "admission.k8s.io/v1"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class GroupVersionKind(_Model):
    """The kind of the object under review."""

    group: str = ""
    version: str = ""
    kind: str = ""


class UserInfo(_Model):
    """Who sent the request, as the apiserver authenticated them (authentication.k8s.io/v1 UserInfo)."""

    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class AdmissionRequest(_Model):
    """The parts of an AdmissionRequest the webhook uses."""

    uid: str
    kind: GroupVersionKind = Field(default_factory=GroupVersionKind)
    operation: str = ""
    namespace: str | None = None
    name: str | None = None
    sub_resource: str | None = Field(default=None, alias="subResource")
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool | None = Field(default=None, alias="dryRun")
    user_info: UserInfo = Field(default_factory=UserInfo, alias="userInfo")


class AdmissionReview(_Model):
    """The envelope."""

    api_version: str = Field(default=ADMISSION_API_VERSION, alias="apiVersion")
    kind: str = "AdmissionReview"
    request: AdmissionRequest


def review_response(
    uid: str, allowed: bool, message: str | None = None, warnings: list[str] | None = None
) -> dict[str, Any]:
    """The AdmissionReview the apiserver expects back. A denial is a 422-style Invalid status, so
    clients print it like any validation error."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {
            "code": 422,
            "reason": "Invalid",
            "message": message or "denied",
        }
    if warnings:
        response["warnings"] = warnings
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
