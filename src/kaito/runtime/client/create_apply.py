"""Create new objects with a plain POST, change them with server-side apply, and keep apply's semantics.

A server-side apply costs the apiserver about twice what a POST of the same object does (5.5 against 2.9 ms
of CPU for a Deployment, ``bench/write_costs.py``), and a controller creating hundreds of objects in a
burst spends most of its writes creating. But a POST records its fields under the manager's *Update*
entry in ``managedFields``, and a later apply (an *Apply* entry) would not remove a field that only the
Update entry owns: an env var dropped from the desired manifest would stay on the live object for good.

So before the first apply to an object, :func:`adopt_for_apply` moves the manager's Update-owned fields
into its Apply entry (client-go's ``csaupgrade`` does the same for ``kubectl apply --server-side``), in
one JSON patch guarded by the object's resourceVersion. From then on the object behaves exactly as if
it had been created by apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaito.runtime.client.client import Client, PatchType, conflict_backoff
from kaito.runtime.client.errors import AlreadyExistsError, ApiError, ConflictError, guarded_patch_conflict
from kaito.runtime.client.kind import Kind
from kaito.runtime.objects import Obj

Entry = dict[str, Any]


def _merge_fields(into: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """The union of two ``fieldsV1`` tries (nested maps of ``f:``/``k:``/``v:`` keys)."""
    out = dict(into)
    for key, value in more.items():
        mine = out.get(key)
        out[key] = (
            _merge_fields(mine, value) if isinstance(mine, Mapping) and isinstance(value, Mapping) else value
        )
    return out


def upgraded_managed_fields(entries: list[Entry], field_manager: str) -> list[Entry] | None:
    """``entries`` with ``field_manager``'s Update entry on the main resource folded into its Apply entry
    (made from it if there is none); None if there is nothing to fold."""

    def ours(entry: Entry, operation: str) -> bool:
        return (
            entry.get("manager") == field_manager
            and entry.get("operation") == operation
            and not entry.get("subresource")
        )

    updates = [e for e in entries if ours(e, "Update")]
    if not updates:
        return None
    applies = [e for e in entries if ours(e, "Apply")]
    merged: Entry = dict(applies[0]) if applies else {**updates[0], "operation": "Apply"}
    fields: dict[str, Any] = dict(merged.get("fieldsV1") or {})
    for update in updates:
        fields = _merge_fields(fields, update.get("fieldsV1") or {})
    merged["fieldsV1"] = fields
    merged["fieldsType"] = "FieldsV1"
    rest = [e for e in entries if not ours(e, "Update") and not ours(e, "Apply")]
    return [*rest, merged]


async def adopt_for_apply(
    client: Client, kind: Kind, namespace: str | None, name: str, field_manager: str, *, attempts: int = 5
) -> None:
    """Makes ``field_manager``'s later applies to the object own (and so remove) what it created by POST.

    Other writers (a Deployment's status, kubectl annotate) may change the object between the read and the
    guarded patch; like :meth:`Client.modify` it re-reads and tries again, ``attempts`` times at most."""
    last: ConflictError | None = None
    for attempt in range(attempts):
        live = await client.get(kind, namespace, name, metadata_only=True)
        meta = live.get("metadata") or {}
        upgraded = upgraded_managed_fields(list(meta.get("managedFields") or []), field_manager)
        if upgraded is None:
            return
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": upgraded},
        ]
        try:
            await client.patch(
                kind, namespace, name, patch, patch_type=PatchType.JSON, field_manager=field_manager
            )
            return
        except ApiError as exc:
            conflict = guarded_patch_conflict(exc)
            if conflict is None:
                raise
            last = conflict
            await conflict_backoff(attempt)
    assert last is not None
    raise last


async def create_or_apply(
    client: Client, kind: Kind, desired: Obj, *, exists: bool, field_manager: str
) -> Obj:
    """Creates ``desired`` with a POST when the caller's cache shows no such object (``exists=False``);
    otherwise, or when the cache was behind (409 AlreadyExists), applies it server-side after
    :func:`adopt_for_apply`. Either way the result is the live object."""
    meta = desired.get("metadata") or {}
    if not exists:
        try:
            return await client.create(kind, desired, field_manager=field_manager)
        except AlreadyExistsError:
            pass
    await adopt_for_apply(client, kind, meta.get("namespace"), str(meta.get("name")), field_manager)
    return await client.apply(kind, desired, field_manager=field_manager, force=True)
