"""Custom resources: discovery, the typed pydantic client, status subresource, metadata-only informers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from kaito.runtime import Client, Informer, Kind, PatchType, kinds

pytestmark = pytest.mark.cluster


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    namespace: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")


class WidgetSpec(BaseModel):
    size: int
    color_name: str | None = Field(default=None, alias="colorName")


class WidgetStatus(BaseModel):
    ready: bool = False


class Widget(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    api_version: str = Field(default="", alias="apiVersion")
    kind: str = "Widget"
    metadata: Meta
    spec: WidgetSpec
    status: WidgetStatus | None = None


def crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


async def test_custom_resource_typed_client(rt_client: Client, namespace: str) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    await rt_client.create(kinds.CUSTOM_RESOURCE_DEFINITION, crd(group))
    try:
        kind: Kind | None = None
        for _ in range(100):
            try:
                kind = await rt_client.kind_for(f"{group}/v1", "Widget")
                break
            except LookupError:
                await asyncio.sleep(0.1)
        assert kind == Kind(group, "v1", "Widget", "widgets", True)
        await asyncio.sleep(0.5)  # the CRD must be established before objects are accepted
        typed = rt_client.typed(kind, Widget)
        w = Widget(
            api_version=f"{group}/v1",
            metadata=Meta(name="w1", namespace=namespace),
            spec=WidgetSpec(size=3, colorName="red"),
        )
        created = await typed.create(w)
        assert created.spec.color_name == "red" and created.metadata.resource_version
        applied = await typed.apply(
            Widget(
                api_version=f"{group}/v1",
                metadata=Meta(name="w1", namespace=namespace),
                spec=WidgetSpec(size=5),
            )
        )
        assert applied.spec.size == 5
        status = await typed.patch_status(namespace, "w1", {"status": {"ready": True}})
        assert status.status is not None and status.status.ready
        # Status writes do not touch spec; spec patches do not touch status.
        got = await typed.get(namespace, "w1")
        assert got.status is not None and got.status.ready and got.spec.size == 5
        with pytest.raises(ValueError):
            await rt_client.patch(kind, namespace, "w1", {"spec": {}}, patch_type=PatchType.STRATEGIC)
        assert [x.metadata.name for x in await typed.list(namespace)] == ["w1"]
        assert await typed.delete(namespace, "w1") is True
        assert await typed.get_or_none(namespace, "w1") is None
    finally:
        await rt_client.delete(kinds.CUSTOM_RESOURCE_DEFINITION, None, f"widgets.{group}")


async def test_metadata_only_informer_with_selectors(rt_client: Client, namespace: str) -> None:
    for i in range(4):
        labels = {"keep": "yes"} if i % 2 == 0 else {}
        await rt_client.create(
            kinds.CONFIGMAP,
            {
                "metadata": {"name": f"m{i}", "namespace": namespace, "labels": labels},
                "data": {"big": "x" * 1000},
            },
        )
    inf = Informer(
        rt_client,
        kinds.CONFIGMAP,
        namespace=namespace,
        label_selector="keep=yes",
        field_selector="metadata.name!=m2",
        metadata_only=True,
    )
    inf.start()
    try:
        assert await inf.wait_for_sync(10)
        assert inf.store.keys() == [f"{namespace}/m0"]
        cached = inf.store.get(f"{namespace}/m0")
        assert cached is not None
        assert cached["kind"] == "PartialObjectMetadata" and "data" not in cached
        await rt_client.create(
            kinds.CONFIGMAP, {"metadata": {"name": "m9", "namespace": namespace, "labels": {"keep": "yes"}}}
        )
        for _ in range(100):
            if f"{namespace}/m9" in inf.store:
                break
            await asyncio.sleep(0.05)
        m9 = inf.store.get(f"{namespace}/m9")
        assert m9 is not None and m9["kind"] == "PartialObjectMetadata"
    finally:
        await inf.stop()
