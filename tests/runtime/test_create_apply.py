"""Objects created by POST and changed by server-side apply behave as if apply had created them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.runtime import Client, ConflictError, PatchType, kinds
from kaito.runtime.client.create_apply import adopt_for_apply, create_or_apply, upgraded_managed_fields

MANAGER = "test-controller"


def deployment(namespace: str, env: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "example.invalid/web:1",
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                },
            },
        },
    }


def ours(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["operation"], e.get("subresource", ""))
        for e in obj["metadata"].get("managedFields") or []
        if e["manager"] == MANAGER
    ]


@pytest.mark.cluster
async def test_what_a_post_created_a_later_apply_removes(rt_client: Client, namespace: str) -> None:
    first = deployment(namespace, {"A": "1", "B": "2"}, {"app": "web", "old": "yes"})
    created = await create_or_apply(rt_client, kinds.DEPLOYMENT, first, exists=False, field_manager=MANAGER)
    assert ours(created) == [("Update", "")]  # the cheap path: a POST
    # Another writer's field (as kubectl annotate would set) must survive our applies.
    await rt_client.patch(
        kinds.DEPLOYMENT,
        namespace,
        "web",
        {"metadata": {"annotations": {"team": "ml"}}},
        patch_type=PatchType.MERGE,
        field_manager="someone-else",
    )
    second = deployment(namespace, {"A": "1"}, {"app": "web"})
    applied = await create_or_apply(rt_client, kinds.DEPLOYMENT, second, exists=True, field_manager=MANAGER)
    env = applied["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}], "B was only in the POST, and the apply dropped it"
    assert applied["metadata"]["labels"] == {"app": "web"}
    assert applied["metadata"]["annotations"]["team"] == "ml"
    assert ours(applied) == [("Apply", "")]
    # Applying again changes no spec (the deployment controller may still write status meanwhile).
    again = await create_or_apply(rt_client, kinds.DEPLOYMENT, second, exists=True, field_manager=MANAGER)
    assert again["metadata"]["generation"] == applied["metadata"]["generation"]
    assert ours(again) == [("Apply", "")]


@pytest.mark.cluster
async def test_a_stale_cache_falls_back_to_apply(rt_client: Client, namespace: str) -> None:
    cm = {"metadata": {"name": "c", "namespace": namespace}, "data": {"a": "1", "b": "2"}}
    await create_or_apply(rt_client, kinds.CONFIGMAP, cm, exists=False, field_manager=MANAGER)
    smaller = copy.deepcopy(cm)
    del smaller["data"]["b"]
    # The cache had not seen the object: the POST meets AlreadyExists, and the apply still owns "b".
    got = await create_or_apply(rt_client, kinds.CONFIGMAP, smaller, exists=False, field_manager=MANAGER)
    assert got["data"] == {"a": "1"}


@pytest.mark.cluster
async def test_adoption_is_guarded_by_resource_version(rt_client: Client, namespace: str) -> None:
    cm = {"metadata": {"name": "g", "namespace": namespace}, "data": {"a": "1"}}
    await rt_client.create(kinds.CONFIGMAP, cm, field_manager=MANAGER)
    real_get = rt_client.get
    writes = 0

    async def get_then_someone_writes(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += 1
        live = await real_get(*args, **kwargs)
        change = {"data": {"x": str(writes)}}
        await rt_client.patch(kinds.CONFIGMAP, namespace, "g", change, field_manager="other")
        return live

    rt_client.get = get_then_someone_writes  # type: ignore[method-assign]
    try:
        with pytest.raises(ConflictError):
            await adopt_for_apply(rt_client, kinds.CONFIGMAP, namespace, "g", MANAGER, attempts=3)
    finally:
        rt_client.get = real_get  # type: ignore[method-assign]
    assert writes == 3, "bounded: one read per attempt, then the conflict is the caller's"


@pytest.mark.cluster
async def test_adoption_rereads_after_another_writer_and_keeps_its_field(
    rt_client: Client, namespace: str
) -> None:
    """A Deployment's status or a kubectl annotate may land between the read and the guarded patch."""
    cm = {"metadata": {"name": "h", "namespace": namespace}, "data": {"a": "1"}}
    await rt_client.create(kinds.CONFIGMAP, cm, field_manager=MANAGER)
    real_get = rt_client.get
    reads = 0

    async def first_get_then_someone_writes(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        live = await real_get(*args, **kwargs)
        if reads == 1:
            await rt_client.patch(
                kinds.CONFIGMAP, namespace, "h", {"data": {"x": "y"}}, field_manager="other"
            )
        return live

    rt_client.get = first_get_then_someone_writes  # type: ignore[method-assign]
    try:
        await adopt_for_apply(rt_client, kinds.CONFIGMAP, namespace, "h", MANAGER)
    finally:
        rt_client.get = real_get  # type: ignore[method-assign]
    assert reads == 2
    got = await rt_client.get(kinds.CONFIGMAP, namespace, "h")
    assert ours(got) == [("Apply", "")]
    assert got["data"] == {"a": "1", "x": "y"}


def test_update_entry_folds_into_an_existing_apply_entry() -> None:
    entries = [
        {"manager": MANAGER, "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}, "apiVersion": "v1"},
        {"manager": MANAGER, "operation": "Update", "fieldsV1": {"f:data": {"f:b": {}}}, "apiVersion": "v1"},
        {"manager": MANAGER, "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
        {"manager": "other", "operation": "Update", "fieldsV1": {"f:data": {"f:c": {}}}},
    ]
    upgraded = upgraded_managed_fields(entries, MANAGER)
    assert upgraded is not None
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in upgraded] == [
        (MANAGER, "Update", "status"),
        ("other", "Update", None),
        (MANAGER, "Apply", None),
    ]
    assert upgraded[-1]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert upgraded_managed_fields(entries[:1] + entries[2:], MANAGER) is None
