"""Owner references, so ``Owns()`` and garbage collection link owned objects to their owner."""

from __future__ import annotations

from typing import Any

from kaito.runtime.client.kind import Kind


def owner_reference(kind: Kind, owner: dict[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to ``owner`` (which must carry ``metadata.name`` and ``metadata.uid``), marked as
    the controller with ``blockOwnerDeletion`` as controller-runtime's ``SetControllerReference`` does."""
    meta = owner.get("metadata") or {}
    if not meta.get("uid") or not meta.get("name"):
        raise ValueError("owner must have metadata.name and metadata.uid")
    ref: dict[str, Any] = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref
