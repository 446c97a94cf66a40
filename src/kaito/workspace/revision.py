"""Spec history: each distinct (resource, inference, tuning) gets a ControllerRevision ``<ws>-<hash[:5]>``,
the newest 10 are kept, and the hash tells when a workload must change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kaito.runtime.objects import Obj, annotations_of, meta, name_of, namespace_of, owner_reference, uid_of
from kaito.workspace.kinds import WORKSPACE
from kaito.workspace.names import ANNOTATION_SPEC_HASH, LABEL_REVISION_WORKSPACE, MAX_REVISION_HISTORY
from kaito.workspace.objects import stable_hash


def spec_of(workspace: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: workspace.get(key)
        for key in ("resource", "inference", "tuning")
        if workspace.get(key) is not None
    }


def spec_hash(workspace: Mapping[str, Any]) -> str:
    return stable_hash(spec_of(workspace), length=64)


def revision_name(workspace: Mapping[str, Any], digest: str) -> str:
    return f"{name_of(workspace)}-{digest[:5]}"


def owned_revisions(
    workspace: Mapping[str, Any], revisions: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    uid = uid_of(workspace)
    return sorted(
        (r for r in revisions if any(ref.get("uid") == uid for ref in meta(r).get("ownerReferences") or [])),
        key=lambda r: int(r.get("revision") or 0),
    )


def revision_manifest(workspace: Mapping[str, Any], digest: str, number: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(workspace, digest),
            "namespace": namespace_of(workspace),
            "labels": {LABEL_REVISION_WORKSPACE: name_of(workspace)},
            "annotations": {ANNOTATION_SPEC_HASH: digest},
            "ownerReferences": [owner_reference(WORKSPACE, workspace)],
        },
        "revision": number,
        "data": spec_of(workspace),
    }


def plan_revisions(
    workspace: Mapping[str, Any], revisions: Sequence[Mapping[str, Any]], digest: str
) -> tuple[Obj | None, int, list[str]]:
    """What to do with the history for the current spec.

    Returns the ControllerRevision to create (None when one for this hash exists), the revision number of
    the current spec, and the names of revisions beyond the newest :data:`MAX_REVISION_HISTORY` to delete.
    """
    owned = owned_revisions(workspace, revisions)
    current = next((r for r in owned if annotations_of(r).get(ANNOTATION_SPEC_HASH) == digest), None)
    to_create: Obj | None = None
    if current is not None:
        number = int(current.get("revision") or 0)
        kept = owned
    else:
        number = (int(owned[-1].get("revision") or 0) if owned else 0) + 1
        to_create = revision_manifest(workspace, digest, number)
        kept = [*owned, to_create]
    excess = len(kept) - MAX_REVISION_HISTORY
    prune = [name_of(r) for r in kept[:excess]] if excess > 0 else []
    return to_create, number, prune
