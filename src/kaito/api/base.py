"""Pydantic plumbing shared by every API type: camelCase aliases, ObjectMeta, LabelSelector, Condition.

The models must read the JSON the apiserver returns and write back the same shape, so every model
accepts both the camelCase wire names and the snake_case Python names, and dumps by alias with
``None`` left out (an explicit ``null`` would clear a field on a merge patch).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


def _format_time(value: datetime) -> str:
    # Kubernetes metav1.Time is RFC 3339 at second precision; naive datetimes are taken as UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Time = Annotated[datetime, PlainSerializer(_format_time, return_type=str, when_used="json-unless-none")]
"""A metav1.Time: a datetime that serialises as ``2006-01-02T15:04:05Z``."""


class KubeModel(BaseModel):
    """Base for every API struct: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        validate_assignment=False,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the apiserver wants it: camelCase keys, no nulls, JSON-safe values."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse apiserver JSON into the model."""
        return cls.model_validate(data)


class OwnerReference(KubeModel):
    """A pointer to the object that owns this one, used by garbage collection."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    """The subset of metav1.ObjectMeta the operator reads and writes.

    Unknown keys (managedFields, selfLink, ...) are kept so that a read-modify-write round trip
    does not drop them.
    """

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = None


class LabelSelectorRequirement(KubeModel):
    """One expression of a label selector."""

    key: str = Field(description="The label key that the selector applies to.", max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        max_length=64,
        description="Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.",
    )


class LabelSelector(KubeModel):
    """A Kubernetes label selector (metav1.LabelSelector)."""

    match_labels: dict[str, str] | None = Field(
        default=None,
        description="Labels the nodes must carry, as key/value pairs. They are also stamped on the "
        "nodes KAITO provisions, so that new nodes match.",
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None,
        max_length=16,
        description="Further set-based requirements on node labels; all must hold.",
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    """The state of one aspect of an object (metav1.Condition)."""

    type: str = Field(description="The condition type, e.g. ResourceReady.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition was computed from."
    )
    last_transition_time: Time | None = Field(
        default=None, description="When the condition last changed status."
    )
    reason: str | None = Field(
        default=None, max_length=1024, description="A CamelCase, machine-readable reason for the status."
    )
    message: str | None = Field(
        default=None, max_length=32768, description="A human-readable explanation of the status."
    )
