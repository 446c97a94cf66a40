"""Small accessors over the plain JSON dicts the cache hands out.

The controller keeps Workspaces, Nodes, Machines and workloads as the apiserver's dicts (pydantic or
generated client models for 200 workspaces would cost several times the memory), so these helpers
give the few typed reads it needs without copying.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kaito.api.constants import (
    LABEL_WORKSPACE,
    LABEL_WORKSPACE_NAMESPACE,
    WORKSPACE_API_VERSION,
    WORKSPACE_KIND,
)

Obj = dict[str, Any]


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace", ""))


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, Mapping) else {}


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def generation_of(obj: Mapping[str, Any]) -> int:
    return int(meta(obj).get("generation") or 0)


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def get_path(obj: Mapping[str, Any], *keys: str) -> Any:
    """``obj[k1][k2]...`` or None when any step is missing."""
    current: Any = obj
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def conditions_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = get_path(obj, "status", "conditions")
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def find_condition(obj: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    for condition in conditions_of(obj):
        if condition.get("type") == condition_type:
            return condition
    return None


def condition_is(obj: Mapping[str, Any], condition_type: str, status: str) -> bool:
    condition = find_condition(obj, condition_type)
    return condition is not None and condition.get("status") == status


def workspace_labels(workspace: Mapping[str, Any]) -> dict[str, str]:
    """The labels that tie Machines, Nodes and pods back to their Workspace."""
    return {LABEL_WORKSPACE: name_of(workspace), LABEL_WORKSPACE_NAMESPACE: namespace_of(workspace)}


def owner_reference(workspace: Mapping[str, Any]) -> Obj:
    """The controller ownerReference that lets garbage collection remove a workload with its Workspace."""
    return {
        "apiVersion": WORKSPACE_API_VERSION,
        "kind": WORKSPACE_KIND,
        "name": name_of(workspace),
        "uid": str(meta(workspace).get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def is_owned_by(obj: Mapping[str, Any], workspace: Mapping[str, Any]) -> bool:
    ref = controller_owner(obj)
    return ref is not None and ref.get("uid") == meta(workspace).get("uid")


def stable_hash(value: Any, length: int = 16) -> str:
    """A hash of JSON-able data that does not depend on dict ordering."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
