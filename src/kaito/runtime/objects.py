"""Typed reads of the plain JSON dicts the client and the cache hand out (kopf's ``bodies`` in spirit).

Controllers keep objects as the apiserver's dicts (models for thousands of cached objects would cost
several times the memory); these accessors give the typed reads without copying. The mappings they
return are views of the object: copy before changing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kaito.runtime.timefmt import parse_time

if TYPE_CHECKING:
    # Only annotated: the client imports this module, so a runtime import would be circular.
    from kaito.runtime.client.kind import Kind

Obj = dict[str, Any]
"""A Kubernetes object as JSON: what the client returns and the cache holds."""


def get_path(obj: Mapping[str, Any], *keys: str) -> Any:
    """``obj[k1][k2]...`` or None when any step is missing."""
    current: Any = obj
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def generation_of(obj: Mapping[str, Any]) -> int:
    return int(meta(obj).get("generation") or 0)


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, Mapping) else {}


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    return [str(f) for f in meta(obj).get("finalizers") or []]


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def created_at(obj: Mapping[str, Any]) -> datetime | None:
    return parse_time(meta(obj).get("creationTimestamp"))


def owner_reference(kind: Kind, owner: Mapping[str, Any], *, controller: bool = True) -> Obj:
    """An ownerReference to ``owner`` (which must carry ``metadata.name`` and ``metadata.uid``), marked as
    the controller with ``blockOwnerDeletion`` as controller-runtime's ``SetControllerReference`` does."""
    if not uid_of(owner) or not name_of(owner):
        raise ValueError("owner must have metadata.name and metadata.uid")
    ref: Obj = {"apiVersion": kind.api_version, "kind": kind.kind}
    ref.update(name=name_of(owner), uid=uid_of(owner))
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference marked ``controller``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_owner(obj)
    return ref is not None and bool(uid_of(owner)) and ref.get("uid") == uid_of(owner)


def conditions_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``status.conditions``."""
    value = get_path(obj, "status", "conditions")
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def find_condition(
    conditions: Sequence[Mapping[str, Any]] | None, condition_type: str
) -> Mapping[str, Any] | None:
    """The condition of ``condition_type`` in a ``conditions`` list, or None."""
    for condition in conditions or []:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


def condition_is(conditions: Sequence[Mapping[str, Any]] | None, condition_type: str, status: str) -> bool:
    """Whether the condition of ``condition_type`` in ``conditions`` has ``status`` ("True", "False",
    "Unknown"); pass :func:`conditions_of` an object, or a ``status`` being built its ``conditions``."""
    condition = find_condition(conditions, condition_type)
    return condition is not None and condition.get("status") == status


def node_is_ready(node: Mapping[str, Any]) -> bool:
    """Whether a Node's ``Ready`` condition is True."""
    return condition_is(conditions_of(node), "Ready", "True")
